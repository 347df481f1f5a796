//! Provider configuration: everything sipauth needs to know about one identity provider and this
//! client's registration at it (the guide's `OAuth2ProviderConfig`, plus issuer and JWKS URI).
//! Templates for the well-known providers live in [`templates`], discovery from an issuer's
//! metadata in [`discovery`]. What to do with the configuration belongs to [`crate::oidc`].

pub(crate) mod discovery;
mod issuer;
pub(crate) mod templates;

pub use discovery::DiscoveryDocument;
pub use issuer::Issuer;
pub use templates::ProviderTemplate;

use std::collections::BTreeMap;

use url::Url;

use crate::error::ConfigError;
use crate::secret::ClientSecret;
use crate::url_policy;

/// Which kind of provider this is. The kind selects provider quirks: Google's two issuer forms,
/// Entra's `{tenantid}` issuer, GitHub's non-OIDC identity API and comma-separated scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProviderKind {
    /// Google (accounts.google.com).
    Google,
    /// Microsoft Entra ID, v2 endpoints.
    Microsoft,
    /// GitHub (OAuth2 only, identity from the REST API).
    GitHub,
    /// Okta (custom authorization server).
    Okta,
    /// Auth0.
    Auth0,
    /// Keycloak.
    Keycloak,
    /// Any other OAuth2 / OpenID Connect provider.
    Custom,
}

impl ProviderKind {
    /// The lowercase name used in configuration files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Google => "google",
            ProviderKind::Microsoft => "microsoft",
            ProviderKind::GitHub => "github",
            ProviderKind::Okta => "okta",
            ProviderKind::Auth0 => "auth0",
            ProviderKind::Keycloak => "keycloak",
            ProviderKind::Custom => "custom",
        }
    }
}

impl std::str::FromStr for ProviderKind {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "google" => ProviderKind::Google,
            "microsoft" | "entra" | "azure" => ProviderKind::Microsoft,
            "github" => ProviderKind::GitHub,
            "okta" => ProviderKind::Okta,
            "auth0" => ProviderKind::Auth0,
            "keycloak" => ProviderKind::Keycloak,
            "custom" => ProviderKind::Custom,
            other => {
                return Err(ConfigError::Unsupported {
                    field: "provider",
                    value: other.to_string(),
                    reason: "expected google, microsoft, github, okta, auth0, keycloak or custom"
                        .into(),
                })
            }
        })
    }
}

/// How a confidential client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuthMethod {
    /// HTTP Basic with the form-encoded client id and secret (the default).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// Where the provider puts the callback parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// In the query string (the default for `code`).
    Query,
    /// In the fragment.
    Fragment,
}

impl ResponseMode {
    fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
        }
    }
}

/// This client's registration at a provider: what the provider's console gives you.
#[derive(Debug, Clone)]
pub struct ClientRegistration {
    /// The client id.
    pub client_id: String,
    /// The client secret, for confidential clients only.
    pub client_secret: Option<ClientSecret>,
    /// The redirect URI, exactly as registered.
    pub redirect_uri: String,
}

impl ClientRegistration {
    /// A public client (no secret).
    pub fn public(client_id: impl Into<String>, redirect_uri: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: None,
            redirect_uri: redirect_uri.into(),
        }
    }

    /// A confidential client.
    pub fn confidential(
        client_id: impl Into<String>,
        client_secret: ClientSecret,
        redirect_uri: impl Into<String>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: Some(client_secret),
            redirect_uri: redirect_uri.into(),
        }
    }
}

/// Everything about one provider and this client's registration at it.
///
/// Fields are public so a template's result can be adjusted; [`ProviderConfig::validate`] (run by
/// [`crate::OidcClient::new`]) checks the whole thing before any request is made.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// Which provider (selects quirks).
    pub kind: ProviderKind,
    /// The client id.
    pub client_id: String,
    /// The client secret (confidential clients only).
    pub client_secret: Option<ClientSecret>,
    /// How the secret is presented, when there is one.
    pub client_auth_method: ClientAuthMethod,
    /// The redirect URI, exactly as registered.
    pub redirect_uri: Url,
    /// The authorization endpoint.
    pub authorization_endpoint: Url,
    /// The token endpoint.
    pub token_endpoint: Url,
    /// The userinfo endpoint (GitHub: its `/user` API).
    pub userinfo_endpoint: Option<Url>,
    /// The RFC 7009 revocation endpoint.
    pub revocation_endpoint: Option<Url>,
    /// The RFC 7662 introspection endpoint.
    pub introspection_endpoint: Option<Url>,
    /// The RFC 8628 device authorization endpoint.
    pub device_authorization_endpoint: Option<Url>,
    /// The OpenID RP-initiated logout endpoint.
    pub end_session_endpoint: Option<Url>,
    /// The issuer, compared exactly (Entra's may contain `{tenantid}`).
    pub issuer: Option<String>,
    /// Where the provider's signing keys are.
    pub jwks_uri: Option<Url>,
    /// Scopes to request.
    pub scopes: Vec<String>,
    /// Only `code` is supported.
    pub response_type: String,
    /// `response_mode`, sent only when set.
    pub response_mode: Option<ResponseMode>,
    /// PKCE S256. Defaults to true; turning it off is logged as a warning.
    pub use_pkce: bool,
    /// Extra authorization parameters (e.g. `access_type`, `audience`, `acr_values`). They may not
    /// set a parameter sipauth owns (a configuration error, never a silent override).
    pub additional_params: BTreeMap<String, String>,
    /// RFC 9207: the provider puts `iss` in the callback, and we require it.
    pub authorization_response_iss_parameter_supported: bool,
    /// Entra only: tenants allowed to sign in (empty = any tenant).
    pub allowed_tenants: Vec<String>,
    /// The scopes the provider says it supports (discovery's `scopes_supported`; empty when not
    /// known, as for templates).
    pub scopes_supported: Vec<String>,
    /// `revocation_endpoint_auth_methods_supported` from the provider's metadata (empty when
    /// not published).
    pub revocation_auth_methods: Vec<String>,
}

/// Authorization parameters sipauth sets itself; `additional_params` may not contain them.
pub(crate) const RESERVED_PARAMS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];

impl ProviderConfig {
    /// A custom provider with explicit endpoints. Scopes default to `openid`.
    pub fn custom(
        client: ClientRegistration,
        authorization_endpoint: &str,
        token_endpoint: &str,
    ) -> Result<Self, ConfigError> {
        Self::from_parts(
            ProviderKind::Custom,
            client,
            url_policy::parse("authorization_endpoint", authorization_endpoint)?,
            url_policy::parse("token_endpoint", token_endpoint)?,
            &["openid"],
        )
    }

    pub(crate) fn from_parts(
        kind: ProviderKind,
        client: ClientRegistration,
        authorization_endpoint: Url,
        token_endpoint: Url,
        scopes: &[&str],
    ) -> Result<Self, ConfigError> {
        let redirect_uri = url_policy::parse("redirect_uri", &client.redirect_uri)?;
        Ok(Self {
            kind,
            client_id: client.client_id,
            client_secret: client.client_secret,
            client_auth_method: ClientAuthMethod::default(),
            redirect_uri,
            authorization_endpoint,
            token_endpoint,
            userinfo_endpoint: None,
            revocation_endpoint: None,
            introspection_endpoint: None,
            device_authorization_endpoint: None,
            end_session_endpoint: None,
            issuer: None,
            jwks_uri: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            response_type: "code".into(),
            response_mode: None,
            use_pkce: true,
            additional_params: BTreeMap::new(),
            authorization_response_iss_parameter_supported: false,
            allowed_tenants: Vec::new(),
            scopes_supported: Vec::new(),
            revocation_auth_methods: Vec::new(),
        })
    }

    /// True when the provider signs in people of many organisations under one issuer (Google,
    /// GitHub, Entra's `common`/`organizations`/`consumers`): there, two people can share an
    /// email local part, so collision-free SIP usernames should be the default.
    pub fn is_multi_tenant(&self) -> bool {
        match self.kind {
            ProviderKind::Google | ProviderKind::GitHub => true,
            ProviderKind::Microsoft => self
                .issuer
                .as_deref()
                .is_none_or(|i| i.contains("{tenantid}")),
            _ => false,
        }
    }

    /// True when `openid` is among the scopes: an ID token is then required and verified.
    pub fn is_openid(&self) -> bool {
        self.scopes.iter().any(|s| s == "openid")
    }

    /// True for a confidential client (it has a secret).
    pub fn is_confidential(&self) -> bool {
        self.client_secret.is_some()
    }

    /// Sets an additional authorization parameter, refusing the ones sipauth owns.
    pub fn with_param(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let name = name.into();
        if RESERVED_PARAMS.contains(&name.as_str()) {
            return Err(ConfigError::ReservedParameter(name));
        }
        self.additional_params.insert(name, value.into());
        Ok(self)
    }

    /// Replaces the scopes.
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Asks for a refresh token the way this provider wants it: Google needs
    /// `access_type=offline` and `prompt=consent`; GitHub issues them by app setting; the others
    /// need the `offline_access` scope. (The reference library's defaults get no refresh token
    /// from most providers.) The scope is added only where the provider takes it: when its
    /// metadata lists `scopes_supported`, only if `offline_access` is among them (a provider that
    /// does not know it answers `invalid_scope`); without a list, only for the templates known to
    /// take it (Microsoft, Okta, Auth0, Keycloak), never for an unknown custom provider.
    pub fn with_offline_access(mut self) -> Self {
        match self.kind {
            ProviderKind::Google => {
                self.additional_params
                    .insert("access_type".into(), "offline".into());
                self.additional_params
                    .insert("prompt".into(), "consent".into());
            }
            ProviderKind::GitHub => {}
            kind => {
                let supported = if self.scopes_supported.is_empty() {
                    kind != ProviderKind::Custom
                } else {
                    self.scopes_supported.iter().any(|s| s == "offline_access")
                };
                if supported && !self.scopes.iter().any(|s| s == "offline_access") {
                    self.scopes.push("offline_access".into());
                }
            }
        }
        self
    }

    /// Checks the whole configuration: secure endpoints, a usable redirect URI, supported
    /// response type and mode, no reserved additional parameters, and what OpenID needs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::Missing("client_id"));
        }
        url_policy::require_redirect(&self.redirect_uri)?;
        url_policy::require_secure("authorization_endpoint", &self.authorization_endpoint)?;
        url_policy::require_secure("token_endpoint", &self.token_endpoint)?;
        let optional = [
            ("userinfo_endpoint", &self.userinfo_endpoint),
            ("revocation_endpoint", &self.revocation_endpoint),
            ("introspection_endpoint", &self.introspection_endpoint),
            (
                "device_authorization_endpoint",
                &self.device_authorization_endpoint,
            ),
            ("end_session_endpoint", &self.end_session_endpoint),
            ("jwks_uri", &self.jwks_uri),
        ];
        for (field, url) in optional {
            if let Some(url) = url {
                url_policy::require_secure(field, url)?;
            }
        }
        if self.response_type != "code" {
            return Err(ConfigError::Unsupported {
                field: "response_type",
                value: self.response_type.clone(),
                reason: "only the authorization code flow (code) is supported".into(),
            });
        }
        if let Some(name) = self
            .additional_params
            .keys()
            .find(|k| RESERVED_PARAMS.contains(&k.as_str()))
        {
            return Err(ConfigError::ReservedParameter(name.clone()));
        }
        if self.is_openid() {
            match &self.issuer {
                None => return Err(ConfigError::Missing("issuer (needed to verify ID tokens)")),
                Some(issuer) => {
                    let probe = issuer.replace("{tenantid}", "tenant");
                    url_policy::parse_secure("issuer", &probe)?;
                }
            }
            if self.jwks_uri.is_none() && !self.is_confidential() {
                return Err(ConfigError::Missing(
                    "jwks_uri (needed to verify ID tokens)",
                ));
            }
        }
        if !self.use_pkce {
            tracing::warn!(
                provider = self.kind.as_str(),
                "PKCE is turned off for this provider; RFC 9700 requires it for public clients"
            );
        }
        Ok(())
    }

    pub(crate) fn response_mode_param(&self) -> Option<&'static str> {
        self.response_mode.map(ResponseMode::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom() -> ProviderConfig {
        let mut p = ProviderConfig::custom(
            ClientRegistration::public("app", "http://127.0.0.1:7777/callback"),
            "https://idp.example.com/authorize",
            "https://idp.example.com/token",
        )
        .unwrap();
        p.issuer = Some("https://idp.example.com".into());
        p.jwks_uri = Some(Url::parse("https://idp.example.com/jwks").unwrap());
        p
    }

    #[test]
    fn custom_defaults_to_pkce_and_openid() {
        let p = custom();
        assert!(p.use_pkce);
        assert_eq!(p.scopes, ["openid"]);
        assert_eq!(p.response_type, "code");
        p.validate().unwrap();
    }

    #[test]
    fn rejects_reserved_additional_params() {
        for name in [
            "client_id",
            "redirect_uri",
            "state",
            "nonce",
            "code_challenge",
        ] {
            let err = custom().with_param(name, "x").unwrap_err();
            assert!(matches!(err, ConfigError::ReservedParameter(ref n) if n == name));
            let mut p = custom();
            p.additional_params.insert(name.into(), "x".into());
            assert!(matches!(
                p.validate(),
                Err(ConfigError::ReservedParameter(_))
            ));
        }
        custom()
            .with_param("acr_values", "mfa")
            .unwrap()
            .validate()
            .unwrap();
    }

    #[test]
    fn rejects_insecure_endpoints() {
        let mut p = custom();
        p.token_endpoint = Url::parse("http://idp.example.com/token").unwrap();
        assert!(matches!(
            p.validate(),
            Err(ConfigError::InsecureUrl {
                field: "token_endpoint",
                ..
            })
        ));
        let mut p = custom();
        p.redirect_uri = Url::parse("http://app.example.com/cb").unwrap();
        assert!(p.validate().is_err());
    }

    #[test]
    fn rejects_openid_without_issuer_or_keys() {
        let mut p = custom();
        p.issuer = None;
        assert!(matches!(p.validate(), Err(ConfigError::Missing(_))));
        let mut p = custom();
        p.jwks_uri = None;
        assert!(matches!(p.validate(), Err(ConfigError::Missing(_))));
    }

    #[test]
    fn rejects_other_response_types() {
        let mut p = custom();
        p.response_type = "token".into();
        assert!(matches!(p.validate(), Err(ConfigError::Unsupported { .. })));
    }

    #[test]
    fn offline_access_follows_the_provider() {
        let mut p = custom();
        p.scopes_supported = vec!["openid".into(), "offline_access".into()];
        let p = p.with_offline_access();
        assert!(p.scopes.contains(&"offline_access".to_string()));
        let p = p.with_offline_access().with_offline_access();
        assert_eq!(
            p.scopes.iter().filter(|s| *s == "offline_access").count(),
            1
        );
    }

    #[test]
    fn rejects_offline_access_where_the_provider_does_not_list_it() {
        let mut p = custom();
        p.scopes_supported = vec!["openid".into(), "email".into()];
        assert!(!p
            .with_offline_access()
            .scopes
            .iter()
            .any(|s| s == "offline_access"));
        // An unknown custom provider without a list: not guessed either.
        assert!(!custom()
            .with_offline_access()
            .scopes
            .iter()
            .any(|s| s == "offline_access"));
    }
}
