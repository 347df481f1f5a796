//! Ready-made configurations for the well-known providers: exact endpoint URLs, default scopes and
//! issuers (the reference's `create*OAuth2Config` helpers, see implementation notes §1), with its
//! gaps closed: PKCE on for GitHub (supported since 2025-07), Entra's issuer as a `{tenantid}`
//! template checked against the token's `tid`, per-tenant Entra keys, JWKS URIs everywhere.
//! Quirk handling at run time (issuer forms, GitHub's API) lives with the code that meets it.

use url::Url;

use super::{ClientRegistration, ProviderConfig, ProviderKind};
use crate::error::ConfigError;
use crate::url_policy;

/// A provider template and the values it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProviderTemplate {
    /// Google.
    Google,
    /// Microsoft Entra ID: `common`, `organizations`, `consumers`, a tenant GUID or domain.
    Microsoft {
        /// The tenant.
        tenant: String,
    },
    /// GitHub (OAuth App or GitHub App user tokens).
    GitHub,
    /// Okta with a custom authorization server (`default` unless given).
    Okta {
        /// The Okta host, e.g. `dev-123456.okta.com`.
        domain: String,
        /// The authorization server id; `None` means `default`.
        authorization_server: Option<String>,
    },
    /// Auth0.
    Auth0 {
        /// The Auth0 host, e.g. `tenant.eu.auth0.com`.
        domain: String,
        /// The API identifier to get a JWT access token for.
        audience: Option<String>,
    },
    /// Keycloak.
    Keycloak {
        /// The server's base URL, e.g. `https://sso.example.com` (or `.../auth` on old versions).
        base_url: String,
        /// The realm.
        realm: String,
    },
}

fn url(field: &'static str, value: String) -> Result<Url, ConfigError> {
    url_policy::parse_secure(field, &value)
}

/// Accepts `host`, `host:port` or `https://host`, and returns the bare host (with port).
fn host_only(field: &'static str, value: &str) -> Result<String, ConfigError> {
    let trimmed = value.trim().trim_end_matches('/');
    let bare = trimmed.strip_prefix("https://").unwrap_or(trimmed);
    let valid = !bare.is_empty()
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    if !valid {
        return Err(ConfigError::Unsupported {
            field,
            value: value.to_string(),
            reason: "expected a host name such as tenant.example.com".into(),
        });
    }
    Ok(bare.to_ascii_lowercase())
}

fn path_segment(field: &'static str, value: &str) -> Result<String, ConfigError> {
    let valid = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if valid {
        Ok(value.to_string())
    } else {
        Err(ConfigError::Unsupported {
            field,
            value: value.to_string(),
            reason: "expected letters, digits, '.', '-' or '_'".into(),
        })
    }
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

impl ProviderTemplate {
    /// The template's name, as on the command line.
    pub fn kind(&self) -> ProviderKind {
        match self {
            ProviderTemplate::Google => ProviderKind::Google,
            ProviderTemplate::Microsoft { .. } => ProviderKind::Microsoft,
            ProviderTemplate::GitHub => ProviderKind::GitHub,
            ProviderTemplate::Okta { .. } => ProviderKind::Okta,
            ProviderTemplate::Auth0 { .. } => ProviderKind::Auth0,
            ProviderTemplate::Keycloak { .. } => ProviderKind::Keycloak,
        }
    }

    /// Builds the provider configuration for this client.
    pub fn build(&self, client: ClientRegistration) -> Result<ProviderConfig, ConfigError> {
        let mut p = match self {
            ProviderTemplate::Google => {
                let mut p = ProviderConfig::from_parts(
                    ProviderKind::Google,
                    client,
                    url(
                        "authorization_endpoint",
                        "https://accounts.google.com/o/oauth2/v2/auth".into(),
                    )?,
                    url(
                        "token_endpoint",
                        "https://oauth2.googleapis.com/token".into(),
                    )?,
                    &["openid", "email", "profile"],
                )?;
                p.userinfo_endpoint = Some(url(
                    "userinfo_endpoint",
                    "https://openidconnect.googleapis.com/v1/userinfo".into(),
                )?);
                p.revocation_endpoint = Some(url(
                    "revocation_endpoint",
                    "https://oauth2.googleapis.com/revoke".into(),
                )?);
                p.jwks_uri = Some(url(
                    "jwks_uri",
                    "https://www.googleapis.com/oauth2/v3/certs".into(),
                )?);
                p.device_authorization_endpoint = Some(url(
                    "device_authorization_endpoint",
                    "https://oauth2.googleapis.com/device/code".into(),
                )?);
                p.issuer = Some("https://accounts.google.com".into());
                p.authorization_response_iss_parameter_supported = true;
                p
            }
            ProviderTemplate::Microsoft { tenant } => {
                let tenant = path_segment("tenant", tenant)?;
                let base = format!("https://login.microsoftonline.com/{tenant}");
                let mut p = ProviderConfig::from_parts(
                    ProviderKind::Microsoft,
                    client,
                    url(
                        "authorization_endpoint",
                        format!("{base}/oauth2/v2.0/authorize"),
                    )?,
                    url("token_endpoint", format!("{base}/oauth2/v2.0/token"))?,
                    &["openid", "email", "profile", "User.Read"],
                )?;
                p.userinfo_endpoint = Some(url(
                    "userinfo_endpoint",
                    "https://graph.microsoft.com/oidc/userinfo".into(),
                )?);
                p.jwks_uri = Some(url("jwks_uri", format!("{base}/discovery/v2.0/keys"))?);
                p.device_authorization_endpoint = Some(url(
                    "device_authorization_endpoint",
                    format!("{base}/oauth2/v2.0/devicecode"),
                )?);
                p.end_session_endpoint = Some(url(
                    "end_session_endpoint",
                    format!("{base}/oauth2/v2.0/logout"),
                )?);
                // A GUID tenant has a fixed issuer; common/organizations/consumers and domain
                // tenants publish the template and the token's `tid` fills it in.
                p.issuer = Some(if is_guid(&tenant) {
                    format!(
                        "https://login.microsoftonline.com/{}/v2.0",
                        tenant.to_lowercase()
                    )
                } else {
                    "https://login.microsoftonline.com/{tenantid}/v2.0".into()
                });
                p
            }
            ProviderTemplate::GitHub => {
                let mut p = ProviderConfig::from_parts(
                    ProviderKind::GitHub,
                    client,
                    url(
                        "authorization_endpoint",
                        "https://github.com/login/oauth/authorize".into(),
                    )?,
                    url(
                        "token_endpoint",
                        "https://github.com/login/oauth/access_token".into(),
                    )?,
                    &["read:user", "user:email"],
                )?;
                p.userinfo_endpoint = Some(url(
                    "userinfo_endpoint",
                    "https://api.github.com/user".into(),
                )?);
                // GitHub documents client_id and client_secret as form parameters.
                p.client_auth_method = super::ClientAuthMethod::ClientSecretPost;
                p.device_authorization_endpoint = Some(url(
                    "device_authorization_endpoint",
                    "https://github.com/login/device/code".into(),
                )?);
                p
            }
            ProviderTemplate::Okta {
                domain,
                authorization_server,
            } => {
                let domain = host_only("domain", domain)?;
                let server = path_segment(
                    "authorization_server",
                    authorization_server.as_deref().unwrap_or("default"),
                )?;
                let base = format!("https://{domain}/oauth2/{server}");
                let mut p = ProviderConfig::from_parts(
                    ProviderKind::Okta,
                    client,
                    url("authorization_endpoint", format!("{base}/v1/authorize"))?,
                    url("token_endpoint", format!("{base}/v1/token"))?,
                    &["openid", "email", "profile"],
                )?;
                p.userinfo_endpoint =
                    Some(url("userinfo_endpoint", format!("{base}/v1/userinfo"))?);
                p.revocation_endpoint =
                    Some(url("revocation_endpoint", format!("{base}/v1/revoke"))?);
                p.introspection_endpoint = Some(url(
                    "introspection_endpoint",
                    format!("{base}/v1/introspect"),
                )?);
                p.device_authorization_endpoint = Some(url(
                    "device_authorization_endpoint",
                    format!("{base}/v1/device/authorize"),
                )?);
                p.end_session_endpoint =
                    Some(url("end_session_endpoint", format!("{base}/v1/logout"))?);
                p.jwks_uri = Some(url("jwks_uri", format!("{base}/v1/keys"))?);
                p.issuer = Some(base);
                p
            }
            ProviderTemplate::Auth0 { domain, audience } => {
                let domain = host_only("domain", domain)?;
                let base = format!("https://{domain}");
                let mut p = ProviderConfig::from_parts(
                    ProviderKind::Auth0,
                    client,
                    url("authorization_endpoint", format!("{base}/authorize"))?,
                    url("token_endpoint", format!("{base}/oauth/token"))?,
                    &["openid", "email", "profile"],
                )?;
                p.userinfo_endpoint = Some(url("userinfo_endpoint", format!("{base}/userinfo"))?);
                p.revocation_endpoint =
                    Some(url("revocation_endpoint", format!("{base}/oauth/revoke"))?);
                p.device_authorization_endpoint = Some(url(
                    "device_authorization_endpoint",
                    format!("{base}/oauth/device/code"),
                )?);
                p.jwks_uri = Some(url("jwks_uri", format!("{base}/.well-known/jwks.json"))?);
                // Auth0's issuer ends with a slash; the comparison is exact.
                p.issuer = Some(format!("{base}/"));
                if let Some(audience) = audience {
                    p.additional_params
                        .insert("audience".into(), audience.clone());
                }
                p
            }
            ProviderTemplate::Keycloak { base_url, realm } => {
                let base_url = url_policy::parse_secure("base_url", base_url.trim())?;
                let base_url = base_url.as_str().trim_end_matches('/').to_string();
                let realm = path_segment("realm", realm)?;
                let issuer = format!("{base_url}/realms/{realm}");
                let oidc = format!("{issuer}/protocol/openid-connect");
                let mut p = ProviderConfig::from_parts(
                    ProviderKind::Keycloak,
                    client,
                    url("authorization_endpoint", format!("{oidc}/auth"))?,
                    url("token_endpoint", format!("{oidc}/token"))?,
                    &["openid", "email", "profile"],
                )?;
                p.userinfo_endpoint = Some(url("userinfo_endpoint", format!("{oidc}/userinfo"))?);
                p.revocation_endpoint = Some(url("revocation_endpoint", format!("{oidc}/revoke"))?);
                p.introspection_endpoint = Some(url(
                    "introspection_endpoint",
                    format!("{oidc}/token/introspect"),
                )?);
                p.device_authorization_endpoint = Some(url(
                    "device_authorization_endpoint",
                    format!("{oidc}/auth/device"),
                )?);
                p.end_session_endpoint =
                    Some(url("end_session_endpoint", format!("{oidc}/logout"))?);
                p.jwks_uri = Some(url("jwks_uri", format!("{oidc}/certs"))?);
                p.issuer = Some(issuer);
                p.authorization_response_iss_parameter_supported = true;
                p
            }
        };
        p.use_pkce = true;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ClientRegistration {
        ClientRegistration::public("cid", "https://app.example.com/oauth/callback")
    }

    fn s(u: &Option<Url>) -> Option<&str> {
        u.as_ref().map(Url::as_str)
    }

    #[test]
    fn google_template_pins_its_urls() {
        let p = ProviderTemplate::Google.build(client()).unwrap();
        assert_eq!(p.kind, ProviderKind::Google);
        assert_eq!(
            p.authorization_endpoint.as_str(),
            "https://accounts.google.com/o/oauth2/v2/auth"
        );
        assert_eq!(
            p.token_endpoint.as_str(),
            "https://oauth2.googleapis.com/token"
        );
        assert_eq!(
            s(&p.userinfo_endpoint),
            Some("https://openidconnect.googleapis.com/v1/userinfo")
        );
        assert_eq!(
            s(&p.revocation_endpoint),
            Some("https://oauth2.googleapis.com/revoke")
        );
        assert_eq!(
            s(&p.jwks_uri),
            Some("https://www.googleapis.com/oauth2/v3/certs")
        );
        assert_eq!(p.issuer.as_deref(), Some("https://accounts.google.com"));
        assert_eq!(p.scopes, ["openid", "email", "profile"]);
        assert!(p.use_pkce);
        p.validate().unwrap();
    }

    #[test]
    fn google_offline_access_uses_access_type() {
        let p = ProviderTemplate::Google
            .build(client())
            .unwrap()
            .with_offline_access();
        assert_eq!(
            p.additional_params.get("access_type").map(String::as_str),
            Some("offline")
        );
        assert_eq!(
            p.additional_params.get("prompt").map(String::as_str),
            Some("consent")
        );
        assert!(!p.scopes.contains(&"offline_access".to_string()));
    }

    #[test]
    fn microsoft_template_fills_the_tenant() {
        for tenant in ["common", "organizations", "consumers"] {
            let p = ProviderTemplate::Microsoft {
                tenant: tenant.into(),
            }
            .build(client())
            .unwrap();
            assert_eq!(
                p.authorization_endpoint.as_str(),
                format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize")
            );
            assert_eq!(
                p.token_endpoint.as_str(),
                format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token")
            );
            assert_eq!(
                s(&p.jwks_uri).unwrap(),
                format!("https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys")
            );
            assert_eq!(
                p.issuer.as_deref(),
                Some("https://login.microsoftonline.com/{tenantid}/v2.0")
            );
            assert_eq!(
                s(&p.userinfo_endpoint),
                Some("https://graph.microsoft.com/oidc/userinfo")
            );
            assert_eq!(p.revocation_endpoint, None);
            assert_eq!(p.scopes, ["openid", "email", "profile", "User.Read"]);
            p.validate().unwrap();
        }
        let guid = "9188040d-6c67-4c5b-b112-36a304b66dad";
        let p = ProviderTemplate::Microsoft {
            tenant: guid.into(),
        }
        .build(client())
        .unwrap();
        assert_eq!(
            p.issuer.unwrap(),
            format!("https://login.microsoftonline.com/{guid}/v2.0")
        );
    }

    #[test]
    fn rejects_a_tenant_that_would_change_the_path() {
        let err = ProviderTemplate::Microsoft {
            tenant: "common/../x".into(),
        }
        .build(client());
        assert!(matches!(
            err,
            Err(ConfigError::Unsupported {
                field: "tenant",
                ..
            })
        ));
    }

    #[test]
    fn github_template_pins_its_urls() {
        let p = ProviderTemplate::GitHub.build(client()).unwrap();
        assert_eq!(
            p.authorization_endpoint.as_str(),
            "https://github.com/login/oauth/authorize"
        );
        assert_eq!(
            p.token_endpoint.as_str(),
            "https://github.com/login/oauth/access_token"
        );
        assert_eq!(s(&p.userinfo_endpoint), Some("https://api.github.com/user"));
        assert_eq!(p.scopes, ["read:user", "user:email"]);
        assert_eq!(p.issuer, None);
        assert!(p.use_pkce, "GitHub supports PKCE since 2025-07-14");
        assert!(!p.is_openid());
        assert_eq!(
            p.client_auth_method,
            super::super::ClientAuthMethod::ClientSecretPost
        );
        p.validate().unwrap();
    }

    #[test]
    fn okta_template_uses_the_default_server() {
        let p = ProviderTemplate::Okta {
            domain: "dev-123456.okta.com".into(),
            authorization_server: None,
        }
        .build(client())
        .unwrap();
        let base = "https://dev-123456.okta.com/oauth2/default";
        assert_eq!(
            p.authorization_endpoint.as_str(),
            format!("{base}/v1/authorize")
        );
        assert_eq!(p.token_endpoint.as_str(), format!("{base}/v1/token"));
        assert_eq!(
            s(&p.userinfo_endpoint).unwrap(),
            format!("{base}/v1/userinfo")
        );
        assert_eq!(
            s(&p.revocation_endpoint).unwrap(),
            format!("{base}/v1/revoke")
        );
        assert_eq!(s(&p.jwks_uri).unwrap(), format!("{base}/v1/keys"));
        assert_eq!(p.issuer.as_deref(), Some(base));
        assert_eq!(p.scopes, ["openid", "email", "profile"]);

        let p = ProviderTemplate::Okta {
            domain: "https://acme.okta.com/".into(),
            authorization_server: Some("aus1abc".into()),
        }
        .build(client())
        .unwrap();
        assert_eq!(
            p.issuer.as_deref(),
            Some("https://acme.okta.com/oauth2/aus1abc")
        );
    }

    #[test]
    fn auth0_template_keeps_the_trailing_slash_and_audience() {
        let p = ProviderTemplate::Auth0 {
            domain: "tenant.auth0.com".into(),
            audience: None,
        }
        .build(client())
        .unwrap();
        assert_eq!(
            p.authorization_endpoint.as_str(),
            "https://tenant.auth0.com/authorize"
        );
        assert_eq!(
            p.token_endpoint.as_str(),
            "https://tenant.auth0.com/oauth/token"
        );
        assert_eq!(
            s(&p.userinfo_endpoint),
            Some("https://tenant.auth0.com/userinfo")
        );
        assert_eq!(
            s(&p.revocation_endpoint),
            Some("https://tenant.auth0.com/oauth/revoke")
        );
        assert_eq!(
            s(&p.jwks_uri),
            Some("https://tenant.auth0.com/.well-known/jwks.json")
        );
        assert_eq!(p.issuer.as_deref(), Some("https://tenant.auth0.com/"));
        assert!(!p.additional_params.contains_key("audience"));
        let p = ProviderTemplate::Auth0 {
            domain: "tenant.auth0.com".into(),
            audience: Some("https://api.example.com".into()),
        }
        .build(client())
        .unwrap();
        assert_eq!(p.additional_params["audience"], "https://api.example.com");
    }

    #[test]
    fn keycloak_template_builds_from_base_and_realm() {
        let p = ProviderTemplate::Keycloak {
            base_url: "https://sso.example.com/".into(),
            realm: "voip".into(),
        }
        .build(client())
        .unwrap();
        let oidc = "https://sso.example.com/realms/voip/protocol/openid-connect";
        assert_eq!(p.authorization_endpoint.as_str(), format!("{oidc}/auth"));
        assert_eq!(p.token_endpoint.as_str(), format!("{oidc}/token"));
        assert_eq!(s(&p.userinfo_endpoint).unwrap(), format!("{oidc}/userinfo"));
        assert_eq!(s(&p.revocation_endpoint).unwrap(), format!("{oidc}/revoke"));
        assert_eq!(s(&p.jwks_uri).unwrap(), format!("{oidc}/certs"));
        assert_eq!(
            p.issuer.as_deref(),
            Some("https://sso.example.com/realms/voip")
        );
        assert_eq!(p.scopes, ["openid", "email", "profile"]);
    }

    #[test]
    fn rejects_insecure_or_malformed_template_values() {
        let http = ProviderTemplate::Keycloak {
            base_url: "http://sso.example.com".into(),
            realm: "r".into(),
        };
        assert!(matches!(
            http.build(client()),
            Err(ConfigError::InsecureUrl { .. })
        ));
        let bad = ProviderTemplate::Okta {
            domain: "evil.com/x?".into(),
            authorization_server: None,
        };
        assert!(bad.build(client()).is_err());
        let bad = ProviderTemplate::Auth0 {
            domain: "".into(),
            audience: None,
        };
        assert!(bad.build(client()).is_err());
    }
}
