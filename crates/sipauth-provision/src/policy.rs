//! [`Policy`]: who may have SIP access. Checked on the verified identity only (never on what a
//! client claims): allowed issuers (and Entra tenants), allowed email domains (only with
//! `email_verified` true), required claim values or groups.

use serde_json::Value;
use sipauth::sip::IdentityClaims;
use sipauth::VerifiedIdentity;

use crate::error::ProvisionError;

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
}

impl Policy {
    /// Checks an identity.
    pub fn check(&self, identity: &VerifiedIdentity) -> Result<(), ProvisionError> {
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
        for (claim, want) in &self.required_claims {
            let ok = match identity.claims().get(claim) {
                Some(Value::String(v)) => v == want,
                Some(Value::Array(values)) => values.iter().any(|v| v.as_str() == Some(want)),
                Some(Value::Bool(b)) => b.to_string() == *want,
                _ => false,
            };
            if !ok {
                return deny(format!("the {claim} claim does not allow SIP access"));
            }
        }
        Ok(())
    }
}
