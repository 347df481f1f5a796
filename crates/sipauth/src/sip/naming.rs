//! The one naming rule for SIP accounts, shared by the command's credential mapping and the
//! provisioning service: which claim names the account (a list tried in order), how the name is
//! cut to the SIP alphabet, the deterministic suffix that separates two identities wanting one
//! name, and the display name. Both sides read an identity through [`IdentityClaims`], so a
//! sign-in's user info and a verified token's claims name a person the same.

use serde_json::Value;

use super::username::{self, UsernamePolicy};

/// Where an account's username comes from, in order, by default: the local part of a verified
/// email, `preferred_username`, the subject.
pub const DEFAULT_USERNAME_CLAIMS: [&str; 3] = ["email", "preferred_username", "sub"];

/// What the naming rule reads of an identity.
pub trait IdentityClaims {
    /// The subject.
    fn subject(&self) -> &str;
    /// A claim's value, as the provider sent it.
    fn claim_value(&self, name: &str) -> Option<Value>;

    /// A claim as text: a non-blank string, or a number.
    fn claim_text(&self, name: &str) -> Option<String> {
        match self.claim_value(name)? {
            Value::String(s) if !s.trim().is_empty() => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// True when the provider says the email is verified (`true`, or the string `"true"`).
    fn email_verified(&self) -> bool {
        match self.claim_value("email_verified") {
            Some(Value::Bool(b)) => b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        }
    }
}

impl IdentityClaims for crate::oidc::userinfo::UserInfo {
    fn subject(&self) -> &str {
        &self.sub
    }
    fn claim_value(&self, name: &str) -> Option<Value> {
        self.claim(name)
    }
    fn email_verified(&self) -> bool {
        self.email_verified == Some(true)
    }
}

impl IdentityClaims for crate::verify::VerifiedIdentity {
    fn subject(&self) -> &str {
        self.subject()
    }
    fn claim_value(&self, name: &str) -> Option<Value> {
        match name {
            "sub" => Some(Value::String(self.subject().to_string())),
            "iss" => Some(Value::String(self.issuer().to_string())),
            _ => self.claims().get(name).cloned(),
        }
    }
}

/// A username and the claim that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedBy {
    /// The sanitised username.
    pub username: String,
    /// The claim it came from (`sub` when no listed claim gave one).
    pub claim: String,
}

/// The username `claims` give, in order: `email` gives the local part of a **verified** email
/// only, `sub` the subject, any other claim its text; each cut to `[a-z0-9._-]` and the policy's
/// length. The first non-empty result wins; the sanitised subject when none gives one, and
/// `user` when even that is empty.
pub fn username_from_claims(
    identity: &impl IdentityClaims,
    claims: &[impl AsRef<str>],
    policy: UsernamePolicy,
) -> NamedBy {
    let from = |claim: &str| -> Option<String> {
        let name = match claim {
            "email" => identity
                .claim_text("email")
                .filter(|_| identity.email_verified())
                .map(|e| username::local_part(&e))?,
            "sub" => username::sanitize(identity.subject()),
            other => username::sanitize(&identity.claim_text(other)?),
        };
        let name: String = name.chars().take(policy.max_len).collect();
        Some(name).filter(|n| !n.is_empty())
    };
    claims
        .iter()
        .map(AsRef::as_ref)
        .find_map(|c| {
            from(c).map(|username| NamedBy {
                username,
                claim: c.to_string(),
            })
        })
        .unwrap_or_else(|| NamedBy {
            username: from("sub").unwrap_or_else(|| "user".into()),
            claim: "sub".into(),
        })
}

/// The name to try when `wanted` belongs to someone else: `wanted` cut to fit, `-`, and 8 hex
/// characters of SHA-256(issuer + "\n" + subject). The same identity always gets the same one.
pub fn suffixed_username(
    wanted: &str,
    issuer: &str,
    subject: &str,
    policy: UsernamePolicy,
) -> String {
    username::collision_free(wanted, issuer, subject, policy)
}

/// Names reserved by default: accounts an operator keeps for people and systems, never handed
/// to an identity as its plain name.
pub const DEFAULT_RESERVED_USERNAMES: [&str; 14] = [
    "admin",
    "administrator",
    "root",
    "postmaster",
    "hostmaster",
    "webmaster",
    "abuse",
    "operator",
    "sip",
    "kamailio",
    "anonymous",
    "system",
    "voicemail",
    "support",
];

/// Names an identity never gets as its plain name: a list (exact, lowercase) and, unless
/// turned off, every all-digit name (they look like extensions). An identity whose claims give
/// a reserved name gets the suffixed form ([`suffixed_username`]) instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedUsernames {
    names: Vec<String>,
    numeric: bool,
}

impl Default for ReservedUsernames {
    fn default() -> Self {
        Self::new(DEFAULT_RESERVED_USERNAMES, true)
    }
}

impl ReservedUsernames {
    /// These names (compared lowercase), and all-digit names when `numeric`.
    pub fn new(names: impl IntoIterator<Item = impl AsRef<str>>, numeric: bool) -> Self {
        Self {
            names: names
                .into_iter()
                .map(|n| n.as_ref().trim().to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect(),
            numeric,
        }
    }

    /// No reserved names at all.
    pub fn none() -> Self {
        Self::new([] as [&str; 0], false)
    }

    /// True when `name` is reserved.
    pub fn contains(&self, name: &str) -> bool {
        (self.numeric && !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()))
            || self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// True when `name` has the suffixed form (ends in `-` and 8 lowercase hex characters). Only
/// [`suffixed_username`] makes such names: one that a claim gives is treated as taken, so nobody
/// can take another identity's suffixed name ahead of it.
pub fn has_suffix_form(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 9
        && bytes[bytes.len() - 9] == b'-'
        && bytes[bytes.len() - 8..]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

/// The names an identity may have, in the order they are tried: the name its claims give
/// ([`username_from_claims`]) unless it is reserved or has the suffixed form, then its own
/// suffixed form. Deterministic: the same identity always gets the same list.
pub fn username_candidates(
    identity: &impl IdentityClaims,
    issuer: &str,
    claims: &[impl AsRef<str>],
    reserved: &ReservedUsernames,
    policy: UsernamePolicy,
) -> Vec<String> {
    let wanted = username_from_claims(identity, claims, policy).username;
    let suffixed = suffixed_username(&wanted, issuer, identity.subject(), policy);
    if reserved.contains(&wanted) || (has_suffix_form(&wanted) && wanted != suffixed) {
        vec![suffixed]
    } else {
        vec![wanted, suffixed]
    }
}

/// The display name: `first` (a configured claim or function), then `name`, then
/// `preferred_username`, then the username; without quotes, backslashes or control characters
/// (it ends up quoted in SIP headers), at most 128 characters, trimmed.
pub fn display_name(
    identity: &impl IdentityClaims,
    first: Option<String>,
    username: &str,
) -> String {
    [
        first,
        identity.claim_text("name"),
        identity.claim_text("preferred_username"),
    ]
    .into_iter()
    .flatten()
    .map(|v| clean_display_name(&v))
    .find(|v| !v.is_empty())
    .unwrap_or_else(|| username.to_string())
}

fn clean_display_name(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .take(128)
        .collect();
    cleaned.trim().to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::oidc::userinfo::UserInfo;

    fn info(v: Value) -> UserInfo {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn claims_are_tried_in_order_and_unverified_emails_skipped() {
        let p = UsernamePolicy::default();
        let verified = info(
            json!({"sub": "S1", "email": "Alice@x.com", "email_verified": true,
            "preferred_username": "al"}),
        );
        let named = username_from_claims(&verified, &DEFAULT_USERNAME_CLAIMS, p);
        assert_eq!(
            (named.username.as_str(), named.claim.as_str()),
            ("alice", "email")
        );
        let unverified =
            info(json!({"sub": "S1", "email": "boss@x.com", "preferred_username": "Al"}));
        let named = username_from_claims(&unverified, &DEFAULT_USERNAME_CLAIMS, p);
        assert_eq!(
            (named.username.as_str(), named.claim.as_str()),
            ("al", "preferred_username")
        );
        let bare = info(json!({"sub": "Sub-1"}));
        assert_eq!(username_from_claims(&bare, &["email"], p).username, "sub-1");
        let nothing = info(json!({"sub": "李"}));
        assert_eq!(username_from_claims(&nothing, &["sub"], p).username, "user");
    }

    #[test]
    fn names_are_cut_to_the_policy_and_suffixes_fit_it() {
        let p = UsernamePolicy::default();
        let long = info(json!({"sub": "s", "nick": "x".repeat(100)}));
        let named = username_from_claims(&long, &["nick"], p);
        assert_eq!(named.username.len(), 64);
        let suffixed = suffixed_username(&named.username, "https://idp", "s", p);
        assert_eq!(suffixed.len(), 64);
        assert!(suffixed.starts_with(&"x".repeat(55)));
    }

    #[test]
    fn reserved_names_and_foreign_suffixed_names_go_straight_to_the_suffix() {
        let p = UsernamePolicy::default();
        let reserved = ReservedUsernames::default();
        let claims = ["preferred_username"];
        let named = |name: &str| info(json!({"sub": "s1", "preferred_username": name}));
        let own = suffixed_username("admin", "https://idp", "s1", p);
        assert_eq!(
            username_candidates(&named("Admin"), "https://idp", &claims, &reserved, p),
            vec![own]
        );
        // All-digit names look like extensions.
        let ext = username_candidates(&named("1001"), "https://idp", &claims, &reserved, p);
        assert_eq!(ext, vec![suffixed_username("1001", "https://idp", "s1", p)]);
        // Another identity's suffixed name is not claimable as a plain name.
        let victim = suffixed_username("alice", "https://idp", "victim", p);
        let grab = username_candidates(&named(&victim), "https://idp", &claims, &reserved, p);
        assert_eq!(grab.len(), 1);
        assert_ne!(grab[0], victim);
        // Ordinary names are tried plain first.
        let alice = username_candidates(&named("alice"), "https://idp", &claims, &reserved, p);
        assert_eq!(alice[0], "alice");
        // Configurable: nothing reserved.
        let open = ReservedUsernames::none();
        assert_eq!(
            username_candidates(&named("1001"), "https://idp", &claims, &open, p)[0],
            "1001"
        );
        assert!(has_suffix_form("x-0123abcd") && !has_suffix_form("x-0123abcg"));
    }

    #[test]
    fn display_names_lose_quotes_backslashes_and_controls() {
        let i = info(json!({"sub": "s", "name": " \"Al\\ice\"\n "}));
        assert_eq!(display_name(&i, None, "alice"), "Alice");
        assert_eq!(
            clean_display_name("  \"Alice\" \\ Example\r\n"),
            "Alice  Example"
        );
        let none = info(json!({"sub": "s"}));
        assert_eq!(display_name(&none, None, "alice"), "alice");
    }
}
