//! Building a provider configuration from an issuer's OpenID discovery document
//! (`/.well-known/openid-configuration`). The document's issuer must equal the issuer asked for,
//! exactly (Entra's multi-tenant documents publish a `{tenantid}` template, accepted for the
//! tenant asked for). Endpoint policy (HTTPS except loopback) is applied to every URL it names.

use serde::{Deserialize, Serialize};
use url::Url;

use super::{ClientAuthMethod, ClientRegistration, ProviderConfig, ProviderKind};
use crate::error::{ConfigError, Endpoint, Error};
use crate::http::{HttpClient, HttpRequest};
use crate::url_policy;

/// The parts of an OpenID Provider Metadata document sipauth uses.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DiscoveryDocument {
    /// Issuer.
    pub issuer: String,
    /// Authorization endpoint (absent in a resource server's view of some issuers; a client
    /// needs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// Token endpoint (likewise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// Userinfo endpoint.
    pub userinfo_endpoint: Option<String>,
    /// JWKS URI.
    pub jwks_uri: Option<String>,
    /// Revocation endpoint (RFC 7009 metadata).
    pub revocation_endpoint: Option<String>,
    /// Introspection endpoint.
    pub introspection_endpoint: Option<String>,
    /// Device authorization endpoint.
    pub device_authorization_endpoint: Option<String>,
    /// RP-initiated logout.
    pub end_session_endpoint: Option<String>,
    /// Scopes the provider knows.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// Token endpoint client authentication methods.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// RFC 9207.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// How clients authenticate at the revocation endpoint (RFC 8414).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
}

/// The RFC 8414 metadata URL for an issuer: the well-known segment goes between the host and
/// the issuer's path (`https://h/t` → `https://h/.well-known/oauth-authorization-server/t`).
pub(crate) fn oauth_metadata_url(issuer: &str) -> Result<Url, ConfigError> {
    let mut url = url_policy::parse_secure("issuer", issuer)?;
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    url.set_query(None);
    Ok(url)
}

async fn fetch_json(http: &HttpClient, url: &Url) -> Result<DiscoveryDocument, Error> {
    let raw = http
        .send(Endpoint::Discovery, HttpRequest::get(url.clone()))
        .await?;
    if !raw.is_success() {
        return Err(raw.unusable(
            Endpoint::Discovery,
            "the discovery document could not be fetched",
        ));
    }
    serde_json::from_slice(&raw.body).map_err(|e| {
        raw.unusable(
            Endpoint::Discovery,
            format!("not an OpenID provider metadata document: {e}"),
        )
    })
}

/// Some providers publish revocation, introspection and device endpoints only in their RFC 8414
/// metadata: fill what OpenID discovery left out from there (same issuer only). Failing to get
/// it is not an error; the endpoints simply stay unknown.
async fn complete_from_oauth_metadata(
    http: &HttpClient,
    issuer: &str,
    doc: &mut DiscoveryDocument,
) {
    if doc.revocation_endpoint.is_some()
        && doc.introspection_endpoint.is_some()
        && doc.device_authorization_endpoint.is_some()
    {
        return;
    }
    let Ok(url) = oauth_metadata_url(issuer) else {
        return;
    };
    let oauth = match fetch_json(http, &url).await {
        Ok(oauth) if oauth.issuer == doc.issuer => oauth,
        Ok(_) => {
            tracing::debug!(%url, "RFC 8414 metadata names another issuer; ignored");
            return;
        }
        Err(e) => {
            tracing::debug!(%url, error = %e, "no RFC 8414 metadata");
            return;
        }
    };
    doc.revocation_endpoint = doc.revocation_endpoint.take().or(oauth.revocation_endpoint);
    doc.introspection_endpoint = doc
        .introspection_endpoint
        .take()
        .or(oauth.introspection_endpoint);
    doc.device_authorization_endpoint = doc
        .device_authorization_endpoint
        .take()
        .or(oauth.device_authorization_endpoint);
    if doc.revocation_endpoint_auth_methods_supported.is_empty() {
        doc.revocation_endpoint_auth_methods_supported =
            oauth.revocation_endpoint_auth_methods_supported;
    }
}

fn kind_for(issuer: &Url) -> ProviderKind {
    match issuer.host_str() {
        Some("accounts.google.com") => ProviderKind::Google,
        Some("login.microsoftonline.com") => ProviderKind::Microsoft,
        Some(h) if h.ends_with(".okta.com") => ProviderKind::Okta,
        Some(h) if h.ends_with(".auth0.com") => ProviderKind::Auth0,
        _ if issuer.path().contains("/realms/") => ProviderKind::Keycloak,
        _ => ProviderKind::Custom,
    }
}

/// The discovery document URL for an issuer (OpenID Connect Discovery §4).
pub(crate) fn discovery_url(issuer: &str) -> Result<Url, ConfigError> {
    url_policy::parse_secure("issuer", issuer)?;
    url_policy::parse_secure(
        "issuer",
        &format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ),
    )
}

/// Fetches an issuer's discovery document, completed from its RFC 8414 metadata where OpenID
/// discovery lacks the revocation, introspection or device endpoint.
pub async fn fetch_document(http: &HttpClient, issuer: &str) -> Result<DiscoveryDocument, Error> {
    let url = discovery_url(issuer)?;
    let mut doc = fetch_json(http, &url).await?;
    // Exact, or the tenant asked for in place of Entra's published `{tenantid}`.
    if !crate::provider::Issuer::new(doc.issuer.clone()).accepts(issuer) {
        return Err(ConfigError::DiscoveryIssuerMismatch {
            expected: issuer.to_string(),
            got: doc.issuer,
            url: url.to_string(),
        }
        .into());
    }
    complete_from_oauth_metadata(http, issuer, &mut doc).await;
    Ok(doc)
}

impl ProviderConfig {
    /// Discovers a provider from its issuer and registers this client with it. Scopes default to
    /// `openid email profile` (those the provider lists, `openid` always).
    pub async fn discover(
        http: &HttpClient,
        issuer: &str,
        client: ClientRegistration,
    ) -> Result<Self, Error> {
        let doc = fetch_document(http, issuer).await?;
        Ok(Self::from_document(&doc, client)?)
    }

    /// Builds a configuration from an already fetched document.
    pub fn from_document(
        doc: &DiscoveryDocument,
        client: ClientRegistration,
    ) -> Result<Self, ConfigError> {
        let probe = doc.issuer.replace("{tenantid}", "tenant");
        let issuer_url = url_policy::parse_secure("issuer", &probe)?;
        let optional =
            |field: &'static str, v: &Option<String>| -> Result<Option<Url>, ConfigError> {
                v.as_deref()
                    .map(|s| url_policy::parse_secure(field, s))
                    .transpose()
            };
        let wanted = ["openid", "email", "profile"];
        let scopes: Vec<&str> = wanted
            .into_iter()
            .filter(|s| {
                *s == "openid"
                    || doc.scopes_supported.is_empty()
                    || doc.scopes_supported.iter().any(|x| x == s)
            })
            .collect();
        let mut p = ProviderConfig::from_parts(
            kind_for(&issuer_url),
            client,
            url_policy::parse_secure(
                "authorization_endpoint",
                doc.authorization_endpoint
                    .as_deref()
                    .ok_or(ConfigError::Missing("authorization_endpoint (discovery)"))?,
            )?,
            url_policy::parse_secure(
                "token_endpoint",
                doc.token_endpoint
                    .as_deref()
                    .ok_or(ConfigError::Missing("token_endpoint (discovery)"))?,
            )?,
            &scopes,
        )?;
        p.userinfo_endpoint = optional("userinfo_endpoint", &doc.userinfo_endpoint)?;
        p.jwks_uri = optional("jwks_uri", &doc.jwks_uri)?;
        p.revocation_endpoint = optional("revocation_endpoint", &doc.revocation_endpoint)?;
        p.introspection_endpoint = optional("introspection_endpoint", &doc.introspection_endpoint)?;
        p.device_authorization_endpoint = optional(
            "device_authorization_endpoint",
            &doc.device_authorization_endpoint,
        )?;
        p.end_session_endpoint = optional("end_session_endpoint", &doc.end_session_endpoint)?;
        p.issuer = Some(doc.issuer.clone());
        p.scopes_supported = doc.scopes_supported.clone();
        p.revocation_auth_methods = doc.revocation_endpoint_auth_methods_supported.clone();
        p.authorization_response_iss_parameter_supported =
            doc.authorization_response_iss_parameter_supported;
        let methods = &doc.token_endpoint_auth_methods_supported;
        if p.client_secret.is_some()
            && !methods.is_empty()
            && !methods.iter().any(|m| m == "client_secret_basic")
            && methods.iter().any(|m| m == "client_secret_post")
        {
            p.client_auth_method = ClientAuthMethod::ClientSecretPost;
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_url_handles_trailing_slashes() {
        assert_eq!(
            discovery_url("https://tenant.auth0.com/").unwrap().as_str(),
            "https://tenant.auth0.com/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://sso.example.com/realms/voip")
                .unwrap()
                .as_str(),
            "https://sso.example.com/realms/voip/.well-known/openid-configuration"
        );
        assert!(discovery_url("http://idp.example.com").is_err());
    }

    #[test]
    fn oauth_metadata_goes_between_host_and_path() {
        assert_eq!(
            oauth_metadata_url("https://idp.example.com/tenant1")
                .unwrap()
                .as_str(),
            "https://idp.example.com/.well-known/oauth-authorization-server/tenant1"
        );
        assert_eq!(
            oauth_metadata_url("https://idp.example.com/")
                .unwrap()
                .as_str(),
            "https://idp.example.com/.well-known/oauth-authorization-server"
        );
    }
}
