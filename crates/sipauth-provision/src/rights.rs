//! [`Rights`]: call rights from the provider. Each right (`outbound`, `international`, ...) is
//! granted by groups (the token's `groups` claim or, for a person the provider pushed, their
//! SCIM groups) or by claim values; an account's rights are decided at every provision from the
//! verified identity and written to Kamailio's `grp` table in the account's transaction
//! ([`crate::Backend`]), where the routing script checks them (`is_user_in`).

use sipauth::VerifiedIdentity;

use crate::policy::{has_value, GROUPS_CLAIM};

/// One right and what grants it: any of its groups, or any of its claim values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Right {
    name: String,
    groups: Vec<String>,
    claims: Vec<(String, String)>,
}

impl Right {
    /// The right `name` (a Kamailio group name: 1 to 64 of `a-z 0-9 _ -`), granted to members
    /// of any of `groups` and to identities with any of the `claims` values.
    pub fn new(
        name: &str,
        groups: Vec<String>,
        claims: Vec<(String, String)>,
    ) -> Result<Self, String> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid {
            return Err(format!(
                "the right {name:?} is not a group name (1 to 64 of a-z, 0-9, _ and -)"
            ));
        }
        if groups.is_empty() && claims.is_empty() {
            return Err(format!(
                "the right {name} names no groups and no claims: nobody would get it"
            ));
        }
        Ok(Self {
            name: name.to_string(),
            groups,
            claims,
        })
    }

    fn granted(&self, identity: &VerifiedIdentity, scim_groups: &[String]) -> bool {
        self.groups
            .iter()
            .any(|g| has_value(identity, scim_groups, GROUPS_CLAIM, g))
            || self
                .claims
                .iter()
                .any(|(claim, want)| has_value(identity, scim_groups, claim, want))
    }
}

/// The configured rights (none by default: no `grp` row is ever written).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rights(Vec<Right>);

impl Rights {
    /// These rights.
    pub fn new(rights: Vec<Right>) -> Self {
        Self(rights)
    }

    /// True when any right is configured.
    pub fn is_configured(&self) -> bool {
        !self.0.is_empty()
    }

    /// True when a right is granted by groups: the provider's SCIM groups are read for it.
    pub(crate) fn reads_groups(&self) -> bool {
        self.0.iter().any(|r| !r.groups.is_empty())
    }

    /// The names of the configured rights.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|r| r.name.as_str())
    }

    /// The rights of an account whose SCIM groups the provider just changed to `scim_groups`,
    /// sorted: those its groups grant, and of those it holds (`current`), the ones a claim may
    /// have granted (decided again at its next provision, with a token).
    pub(crate) fn by_directory(&self, scim_groups: &[String], current: &[String]) -> Vec<String> {
        let mut granted: Vec<String> = self
            .0
            .iter()
            .filter(|r| {
                r.groups.iter().any(|g| scim_groups.contains(g))
                    || (!r.claims.is_empty() && current.contains(&r.name))
            })
            .map(|r| r.name.clone())
            .collect();
        granted.sort();
        granted
    }

    /// The rights `identity` has (in SCIM groups `scim_groups`), sorted.
    pub(crate) fn of(&self, identity: &VerifiedIdentity, scim_groups: &[String]) -> Vec<String> {
        let mut granted: Vec<String> = self
            .0
            .iter()
            .filter(|r| r.granted(identity, scim_groups))
            .map(|r| r.name.clone())
            .collect();
        granted.sort();
        granted.dedup();
        granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_right_names_kamailio_cannot_hold_and_rights_nobody_gets() {
        for bad in ["", "Outbound", "out bound", "a'b", &"x".repeat(65)] {
            assert!(
                Right::new(bad, vec!["g".into()], vec![]).is_err(),
                "{bad:?}"
            );
        }
        assert!(Right::new("outbound", vec![], vec![]).is_err());
        assert!(Right::new("outbound", vec!["voip-outbound".into()], vec![]).is_ok());
    }
}
