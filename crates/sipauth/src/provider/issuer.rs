//! [`Issuer`]: who may have issued a token, and the one place issuers are compared. Exact string
//! equality (OpenID Connect Core §3.1.3.7), with two documented exceptions: Google's ID tokens may
//! name `accounts.google.com` without the scheme, and Entra ID's multi-tenant documents publish
//! `https://login.microsoftonline.com/{tenantid}/v2.0`, filled from the token's `tid` (optionally
//! from an allow list of tenants). Discovery, the callback's RFC 9207 `iss`, and token
//! verification all ask this type.

use serde_json::{Map, Value};

use super::{ProviderConfig, ProviderKind};
use crate::error::VerificationError;

/// The `{tenantid}` placeholder of Entra ID's multi-tenant issuer.
const TENANT: &str = "{tenantid}";

/// An expected issuer and how to match it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Issuer {
    /// Compared exactly.
    Exact(String),
    /// Google: also accepted without `https://`.
    Google(String),
    /// Entra ID's `{tenantid}` template, filled from the token's `tid`.
    TenantTemplate {
        /// The template.
        template: String,
        /// Tenants allowed to sign in (empty: any).
        allowed_tenants: Vec<String>,
    },
}

impl Issuer {
    /// An issuer compared exactly (or, when it contains `{tenantid}`, as Entra's template).
    pub fn new(issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        if issuer.contains(TENANT) {
            Issuer::TenantTemplate {
                template: issuer,
                allowed_tenants: Vec::new(),
            }
        } else {
            Issuer::Exact(issuer)
        }
    }

    /// The issuer of a provider configuration, with its quirks (Google's two forms, Entra's
    /// template and tenant allow list). `None` when the provider names no issuer.
    pub fn for_provider(provider: &ProviderConfig) -> Option<Self> {
        let issuer = provider.issuer.clone()?;
        Some(match Self::new(issuer) {
            Issuer::TenantTemplate { template, .. } => Issuer::TenantTemplate {
                template,
                allowed_tenants: provider.allowed_tenants.clone(),
            },
            Issuer::Exact(issuer) if provider.kind == ProviderKind::Google => {
                Issuer::Google(issuer)
            }
            other => other,
        })
    }

    /// The issuer as configured (the template itself for Entra).
    pub fn as_str(&self) -> &str {
        match self {
            Issuer::Exact(i) | Issuer::Google(i) => i,
            Issuer::TenantTemplate { template, .. } => template,
        }
    }

    /// True when `iss` names this issuer, by the string alone: exactly, Google's scheme-less
    /// form, or Entra's template with one tenant segment in place of `{tenantid}` (for discovery
    /// documents and the callback's `iss`, which carry no `tid` to check against).
    pub fn accepts(&self, iss: &str) -> bool {
        match self {
            Issuer::Exact(expected) => iss == expected,
            Issuer::Google(expected) => {
                iss == expected || Some(iss) == expected.strip_prefix("https://")
            }
            Issuer::TenantTemplate {
                template,
                allowed_tenants,
            } => tenant_in(template, iss).is_some_and(|tenant| {
                allowed_tenants.is_empty() || allowed_tenants.iter().any(|t| t == tenant)
            }),
        }
    }

    /// Checks a token's `iss` against this issuer, with the token's claims (Entra: `iss` must be
    /// the template filled with the token's own `tid`, and the tenant allowed).
    pub fn check(&self, iss: &str, claims: &Map<String, Value>) -> Result<(), VerificationError> {
        let mismatch = || VerificationError::IssuerMismatch {
            expected: self.as_str().to_string(),
            got: iss.to_string(),
        };
        match self {
            Issuer::Exact(_) | Issuer::Google(_) if self.accepts(iss) => Ok(()),
            Issuer::Exact(_) | Issuer::Google(_) => Err(mismatch()),
            Issuer::TenantTemplate {
                template,
                allowed_tenants,
            } => {
                let tid = claims
                    .get("tid")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty() && !t.contains('/'))
                    .ok_or(VerificationError::MissingClaim("tid"))?;
                if iss != template.replace(TENANT, tid) {
                    return Err(mismatch());
                }
                if !allowed_tenants.is_empty() && !allowed_tenants.iter().any(|t| t == tid) {
                    return Err(VerificationError::TenantNotAllowed(tid.to_string()));
                }
                Ok(())
            }
        }
    }
}

/// The tenant `iss` puts in place of `{tenantid}` in `template`: one non-empty path segment.
fn tenant_in<'a>(template: &str, iss: &'a str) -> Option<&'a str> {
    let (head, tail) = template.split_once(TENANT)?;
    iss.strip_prefix(head)
        .and_then(|rest| rest.strip_suffix(tail))
        .filter(|tenant| !tenant.is_empty() && !tenant.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_issuer_accepts_both_forms_only_for_google() {
        let claims = Map::new();
        let google = Issuer::Google("https://accounts.google.com".into());
        google.check("accounts.google.com", &claims).unwrap();
        google
            .check("https://accounts.google.com", &claims)
            .unwrap();
        assert!(google.check("https://evil.example", &claims).is_err());
        let exact = Issuer::new("https://accounts.google.com");
        assert!(exact.check("accounts.google.com", &claims).is_err());
    }

    #[test]
    fn entra_template_is_filled_from_tid() {
        let rule = Issuer::new("https://login.microsoftonline.com/{tenantid}/v2.0");
        let mut claims = Map::new();
        claims.insert("tid".into(), "t-1".into());
        rule.check("https://login.microsoftonline.com/t-1/v2.0", &claims)
            .unwrap();
        assert!(rule
            .check("https://login.microsoftonline.com/t-2/v2.0", &claims)
            .is_err());
        assert_eq!(
            rule.check("https://login.microsoftonline.com/t-1/v2.0", &Map::new()),
            Err(VerificationError::MissingClaim("tid"))
        );
        let only = Issuer::TenantTemplate {
            template: "https://login.microsoftonline.com/{tenantid}/v2.0".into(),
            allowed_tenants: vec!["t-9".into()],
        };
        assert_eq!(
            only.check("https://login.microsoftonline.com/t-1/v2.0", &claims),
            Err(VerificationError::TenantNotAllowed("t-1".into()))
        );
    }

    #[test]
    fn rejects_template_fillings_that_are_not_one_segment() {
        let t = Issuer::new("https://login.microsoftonline.com/{tenantid}/v2.0");
        assert!(t.accepts("https://login.microsoftonline.com/common/v2.0"));
        assert!(!t.accepts("https://login.microsoftonline.com/a/b/v2.0"));
        assert!(!t.accepts("https://login.microsoftonline.com//v2.0"));
        assert!(!t.accepts("https://evil.example/common/v2.0"));
        assert!(!Issuer::new("https://x").accepts("https://x/"));
    }
}
