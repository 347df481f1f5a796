//! Tenant-aware SIP settings ([`Tenancy`]): the SIP domain, WebSocket server and realm decided
//! per person from templates over verified claims (`sip.{email_domain}`,
//! `wss://pbx.{email_domain}:7443/ws`), the guide's SaaS pattern on sipauth's own backend.
//! Every domain a template gives is checked against an allowlist, and the WebSocket server's
//! host must be under an allowed domain or beside the SIP domain (`pbx.acme.com` beside
//! `sip.acme.com`): a claim never picks an arbitrary domain. An account keeps the domain it was
//! made in; when a person's claims later give another one, the provision is refused (an
//! operator moves the account) rather than handing out another tenant's servers.
//!
//! Placeholders: `{email_domain}` (the domain of a **verified** email), `{tenant}` (the `tid`
//! claim: Entra ID's tenant), and in the WebSocket and realm templates `{domain}` (the account's
//! SIP domain). A value goes in only when it is a plain host label sequence (`[a-z0-9.-]`).

use sipauth::sip::IdentityClaims;

use crate::error::ProvisionError;
use crate::provisioner::SipSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    EmailDomain,
    Tenant,
    Domain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Var),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template(Vec<Part>);

impl Template {
    fn parse(what: &str, text: &str, domain_allowed: bool) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("{what}: an unclosed {{ in {text:?}"))?
                + open;
            let var = match &rest[open + 1..close] {
                "email_domain" => Var::EmailDomain,
                "tenant" => Var::Tenant,
                "domain" if domain_allowed => Var::Domain,
                other => {
                    return Err(format!(
                        "{what}: unknown placeholder {{{other}}} (known: {{email_domain}}, {{tenant}}{})",
                        if domain_allowed { ", {domain}" } else { "" }
                    ))
                }
            };
            parts.push(Part::Var(var));
            rest = &rest[close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("{what}: a stray }} in {text:?}"));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Self(parts))
    }

    fn render(&self, who: &dyn Fn(Var) -> Option<String>) -> Result<String, ProvisionError> {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var(v) => {
                    let value = who(*v).ok_or_else(|| {
                        ProvisionError::DomainNotAllowed(format!(
                            "this identity has no {} to choose its SIP domain by",
                            match v {
                                Var::EmailDomain => "verified email",
                                Var::Tenant => "tenant (tid)",
                                Var::Domain => "SIP domain",
                            }
                        ))
                    })?;
                    out.push_str(&value);
                }
            }
        }
        Ok(out)
    }
}

/// A claim value fit for a host name: lowercase `[a-z0-9.-]`, no empty label.
fn host_value(value: &str) -> Option<String> {
    let v = value.trim().to_ascii_lowercase();
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !v.starts_with(['.', '-'])
        && !v.ends_with(['.', '-'])
        && !v.contains("..");
    ok.then_some(v)
}

/// Whether `host` is beside the (allowed) SIP domain `domain`: under the domain's parent, when
/// that parent still has two labels (`pbx.acme.com` beside `sip.acme.com`; nothing is beside
/// `sip.com`).
fn under_parent(host: &str, domain: &str) -> bool {
    let Some((_, parent)) = domain.split_once('.') else {
        return false;
    };
    parent.contains('.')
        && host
            .strip_suffix(parent)
            .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
}

/// Per-person SIP settings from templates, bounded by an allowlist of domains.
#[derive(Debug, Clone, Default)]
pub struct Tenancy {
    domain: Option<Template>,
    ws_uri: Option<Template>,
    realm: Option<Template>,
    allowed: Vec<String>,
}

impl Tenancy {
    /// Parses the templates and the allowlist (`example.com`, or `*.example.com` for its
    /// subdomains). A template needs an allowlist.
    pub fn new(
        domain_template: Option<&str>,
        ws_uri_template: Option<&str>,
        realm_template: Option<&str>,
        allowed_domains: &[String],
    ) -> Result<Self, String> {
        let allowed: Vec<String> = allowed_domains
            .iter()
            .map(|d| d.trim().to_ascii_lowercase())
            .collect();
        for d in &allowed {
            if host_value(d.strip_prefix("*.").unwrap_or(d)).is_none() {
                return Err(format!(
                    "allowed_domains: {d:?} is not a domain (example.com or *.example.com)"
                ));
            }
        }
        let tenancy = Self {
            domain: domain_template
                .map(|t| Template::parse("domain_template", t, false))
                .transpose()?,
            ws_uri: ws_uri_template
                .map(|t| Template::parse("ws_uri_template", t, true))
                .transpose()?,
            realm: realm_template
                .map(|t| Template::parse("realm_template", t, true))
                .transpose()?,
            allowed,
        };
        if tenancy.is_templated() && tenancy.allowed.is_empty() {
            return Err(
                "a SIP domain or WebSocket template needs allowed_domains: a claim must never pick an arbitrary domain".into(),
            );
        }
        Ok(tenancy)
    }

    /// Whether the SIP domain comes from a template (else it is the configured one).
    pub fn decides_domain(&self) -> bool {
        self.domain.is_some()
    }

    /// Whether any template is set.
    pub fn is_templated(&self) -> bool {
        self.domain.is_some() || self.ws_uri.is_some() || self.realm.is_some()
    }

    /// Whether `domain` is on the allowlist (an empty list allows the configured domain only,
    /// which is not asked).
    pub fn allows(&self, domain: &str) -> bool {
        let domain = domain.to_ascii_lowercase();
        self.allowed.iter().any(|a| match a.strip_prefix("*.") {
            Some(parent) => domain
                .strip_suffix(parent)
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            None => *a == domain,
        })
    }

    /// Whether `host` is an allowed domain or a host under one (`pbx.acme.com` under
    /// `acme.com` or `sip.acme.com`'s parent).
    fn allows_host(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let mut candidate = host.as_str();
        loop {
            if self.allows(candidate) {
                return true;
            }
            match candidate.split_once('.') {
                Some((_, parent)) if parent.contains('.') => candidate = parent,
                _ => return false,
            }
        }
    }

    fn value(who: &dyn IdentityClaims, var: Var, domain: Option<&str>) -> Option<String> {
        match var {
            Var::EmailDomain => who
                .email_verified()
                .then(|| who.claim_text("email"))
                .flatten()
                .and_then(|e| e.rsplit_once('@').map(|(_, d)| d.to_string()))
                .and_then(|d| host_value(&d)),
            Var::Tenant => who.claim_text("tid").and_then(|t| host_value(&t)),
            Var::Domain => domain.map(str::to_string),
        }
    }

    /// The SIP settings for `who`: the domain from its template (or the configured one), then
    /// the WebSocket server and realm from theirs; every domain and the WebSocket host checked
    /// against the allowlist.
    pub(crate) fn settings(
        &self,
        base: &SipSettings,
        who: &dyn IdentityClaims,
    ) -> Result<SipSettings, ProvisionError> {
        let refuse = |what: String| Err(ProvisionError::DomainNotAllowed(what));
        let domain = match &self.domain {
            Some(t) => {
                let d = t.render(&|v| Self::value(who, v, None))?;
                match host_value(&d) {
                    Some(d) if self.allows(&d) => d,
                    _ => return refuse(format!("the SIP domain {d:?} is not an allowed domain")),
                }
            }
            None => base.domain.clone(),
        };
        let ws_uri = match &self.ws_uri {
            Some(t) => {
                let uri = t.render(&|v| Self::value(who, v, Some(&domain)))?;
                let checked = sipauth::sip::check_ws_uri(&uri, false).map_err(|e| {
                    ProvisionError::DomainNotAllowed(format!("the WebSocket server {uri:?}: {e}"))
                })?;
                let host = url::Url::parse(&checked)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_default();
                if !self.allows_host(&host) && !under_parent(&host, &domain) {
                    return refuse(format!(
                        "the WebSocket server {uri:?} is neither under an allowed domain nor beside the SIP domain {domain}"
                    ));
                }
                checked
            }
            None => base.ws_uri.clone(),
        };
        Ok(SipSettings {
            realm: Some(self.realm_for(base, &domain)),
            domain,
            ws_uri,
            sip_server: base.sip_server.clone(),
        })
    }

    /// The digest realm of accounts in `domain` (the realm template over `{domain}`, else the
    /// configured realm when the domain is the configured one, else the domain).
    pub(crate) fn realm_for(&self, base: &SipSettings, domain: &str) -> String {
        if let Some(t) = &self.realm {
            if let Ok(realm) = t.render(&|v| (v == Var::Domain).then(|| domain.to_string())) {
                return realm;
            }
        }
        if domain == base.domain {
            base.realm().to_string()
        } else {
            domain.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    struct Who(Value);
    impl IdentityClaims for Who {
        fn subject(&self) -> &str {
            "s"
        }
        fn claim_value(&self, name: &str) -> Option<Value> {
            self.0.get(name).cloned()
        }
    }

    fn base() -> SipSettings {
        SipSettings {
            domain: "sip.example.com".into(),
            realm: None,
            ws_uri: "wss://sip.example.com/ws".into(),
            sip_server: None,
        }
    }

    fn saas() -> Tenancy {
        Tenancy::new(
            Some("sip.{email_domain}"),
            Some("wss://pbx.{email_domain}:7443/ws"),
            None,
            &["sip.acme.com".into(), "sip.globex.com".into()],
        )
        .unwrap()
    }

    #[test]
    fn each_tenant_gets_its_own_domain_and_servers() {
        let t = saas();
        let acme = t
            .settings(
                &base(),
                &Who(json!({"email": "ann@acme.com", "email_verified": true})),
            )
            .unwrap();
        assert_eq!(acme.domain, "sip.acme.com");
        assert_eq!(acme.ws_uri, "wss://pbx.acme.com:7443/ws");
        assert_eq!(acme.realm(), "sip.acme.com");
        let globex = t
            .settings(
                &base(),
                &Who(json!({"email": "Bo@GLOBEX.com", "email_verified": true})),
            )
            .unwrap();
        assert_eq!(globex.domain, "sip.globex.com");
    }

    #[test]
    fn rejects_a_domain_outside_the_allowlist_or_from_an_unverified_email() {
        let t = saas();
        for who in [
            json!({"email": "eve@evil.com", "email_verified": true}),
            json!({"email": "eve@acme.com"}),
            json!({"email": "eve@acme.com/../x", "email_verified": true}),
            json!({"sub": "s"}),
        ] {
            let err = t.settings(&base(), &Who(who.clone())).unwrap_err();
            assert_eq!(err.code().as_str(), "domain_not_allowed", "{who}");
        }
        // The WebSocket host is held to the allowlist too.
        let loose = Tenancy::new(
            None,
            Some("wss://{tenant}.example.net/ws"),
            None,
            &["sip.example.com".into()],
        )
        .unwrap();
        assert!(loose
            .settings(&base(), &Who(json!({"tid": "attacker"})))
            .is_err());
    }

    #[test]
    fn rejects_templates_without_an_allowlist_or_with_unknown_placeholders() {
        assert!(Tenancy::new(Some("sip.{email_domain}"), None, None, &[]).is_err());
        assert!(Tenancy::new(Some("sip.{domain}"), None, None, &["a.com".into()]).is_err());
        assert!(Tenancy::new(Some("sip.{nope}"), None, None, &["a.com".into()]).is_err());
        assert!(Tenancy::new(Some("sip.{email_domain"), None, None, &["a.com".into()]).is_err());
    }

    #[test]
    fn wildcards_allow_subdomains_only() {
        let t = Tenancy::new(None, None, None, &["*.tenants.example.com".into()]).unwrap();
        assert!(t.allows("acme.tenants.example.com"));
        assert!(!t.allows("tenants.example.com"));
        assert!(!t.allows("eviltenants.example.com"));
    }
}
