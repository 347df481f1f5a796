//! [`Policy`]: who may have SIP access. Checked on the verified identity only (never on what a
//! client claims), at every provision: allowed issuers (and Entra tenants), allowed email domains
//! (only with `email_verified` true), required claim values or groups (the token's `groups`
//! claim or, for a person the provider pushed, their SCIM groups), and the authentication
//! context (`acr`, e.g. multi-factor) the sign-in must have had. What a failure does to an
//! existing account is [`OnPolicyFailure`]'s.

use serde_json::Value;
use sipauth::sip::IdentityClaims;
use sipauth::VerifiedIdentity;

use crate::error::ProvisionError;

/// The claim whose required values the provider's SCIM groups may also give.
pub(crate) const GROUPS_CLAIM: &str = "groups";

/// What a provision that the policy refuses does to the identity's existing account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnPolicyFailure {
    /// Refuses the provision; the account and its SIP access stay as they were.
    Refuse,
    /// Refuses the provision and disables the account (its SIP access ends at once): a role
    /// removed at the provider ends access at the next provision at the latest.
    #[default]
    Disable,
}

/// Who may have SIP access. The default allows every verified identity.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Only these issuers (empty: any configured issuer).
    pub allowed_issuers: Vec<String>,
    /// Only these Entra tenants (`tid`; empty: any).
    pub allowed_tenants: Vec<String>,
    /// Only verified emails of these domains (empty: any identity).
    pub allowed_email_domains: Vec<String>,
    /// Claims that must have a value: a string equal to it, or an array containing it (groups).
    pub required_claims: Vec<(String, String)>,
    /// The verified token's `acr` must be one of these (empty: any, or none).
    pub required_acr: Vec<String>,
    /// What a refusal does to an existing account.
    pub on_failure: OnPolicyFailure,
}

impl Policy {
    /// Checks an identity.
    pub fn check(&self, identity: &VerifiedIdentity) -> Result<(), ProvisionError> {
        self.check_with_groups(identity, &[])
    }

    /// True when a required claim is `groups`: the provider's SCIM groups count there.
    pub(crate) fn reads_groups(&self) -> bool {
        self.required_claims.iter().any(|(c, _)| c == GROUPS_CLAIM)
    }

    /// Checks an identity whose SCIM user is in `scim_groups` (display names): they count as
    /// values of its `groups` claim.
    pub fn check_with_groups(
        &self,
        identity: &VerifiedIdentity,
        scim_groups: &[String],
    ) -> Result<(), ProvisionError> {
        let deny = |why: String| Err(ProvisionError::Denied(why));
        if !self.allowed_issuers.is_empty()
            && !self.allowed_issuers.iter().any(|i| i == identity.issuer())
        {
            return deny(format!("the issuer {} is not allowed", identity.issuer()));
        }
        if !self.allowed_tenants.is_empty() {
            let tid = identity.string("tid").unwrap_or_default();
            if !self.allowed_tenants.iter().any(|t| t == tid) {
                return deny("the tenant is not allowed".into());
            }
        }
        if !self.allowed_email_domains.is_empty() {
            let verified = identity.email_verified();
            let domain = identity
                .string("email")
                .and_then(|e| e.rsplit_once('@'))
                .map(|(_, d)| d.to_ascii_lowercase());
            let allowed = verified
                && domain.is_some_and(|d| {
                    self.allowed_email_domains
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(&d))
                });
            if !allowed {
                return deny("a verified email of an allowed domain is required".into());
            }
        }
        if !self.required_acr.is_empty() {
            let acr = identity.string("acr").unwrap_or_default();
            if !self.required_acr.iter().any(|a| a == acr) {
                return deny(
                    "the sign-in's authentication context (acr) is not one required".into(),
                );
            }
        }
        for (claim, want) in &self.required_claims {
            if !has_value(identity, scim_groups, claim, want) {
                return deny(format!("the {claim} claim does not allow SIP access"));
            }
        }
        Ok(())
    }
}

/// True when the identity's `claim` has the value `want`: a string equal to it, an array
/// containing it (groups), a boolean spelled so; for `groups`, a SCIM group of that name too.
pub(crate) fn has_value(
    identity: &VerifiedIdentity,
    scim_groups: &[String],
    claim: &str,
    want: &str,
) -> bool {
    if claim == GROUPS_CLAIM && scim_groups.iter().any(|g| g == want) {
        return true;
    }
    match identity.claims().get(claim) {
        Some(Value::String(v)) => v == want,
        Some(Value::Array(values)) => values.iter().any(|v| v.as_str() == Some(want)),
        Some(Value::Bool(b)) => b.to_string() == want,
        _ => false,
    }
}
