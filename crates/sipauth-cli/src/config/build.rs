//! Stage two, the build: from the resolved profile to what runs: the provider (by template,
//! custom endpoints, or discovery through a cache kept in the store) and the credential
//! mapping (the library's naming rule by default). The only part that may touch the network.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sipauth::sip::{ApiMethod, HashAlgorithm, HmacAlgorithm};
use sipauth::SessionStore;
use sipauth::{
    ClientRegistration, ClientSecret, CredentialMapping, HttpClient, PasswordStrategy,
    ProviderConfig, ProviderTemplate, SipPassword,
};

use crate::error::CliError;
use crate::opt::{Profile, ProviderName, StrategyName};

use super::checks::{required, secret};

const DISCOVERY_CACHE: &str = "sipauth_discovery";

const DISCOVERY_MAX_AGE: i64 = 24 * 3600;

/// Discovery, served from the store when fresh (so `sipauth token` needs no network).
async fn discover(
    http: &HttpClient,
    issuer: &str,
    client: ClientRegistration,
    store: &Arc<dyn SessionStore>,
) -> Result<ProviderConfig, CliError> {
    use sipauth::Clock;
    let now = sipauth::SystemClock.now_unix();
    let cached = store
        .load(DISCOVERY_CACHE)
        .ok()
        .flatten()
        .and_then(|json| serde_json::from_str::<Value>(&json).ok());
    if let Some(entry) = cached {
        let fresh = entry["issuer"] == issuer
            && entry["fetched_at"]
                .as_i64()
                .is_some_and(|t| now - t < DISCOVERY_MAX_AGE);
        if fresh {
            if let Ok(doc) =
                serde_json::from_value::<sipauth::DiscoveryDocument>(entry["document"].clone())
            {
                return ProviderConfig::from_document(&doc, client).map_err(CliError::from);
            }
        }
    }
    let doc = sipauth::fetch_discovery_document(http, issuer)
        .await
        .map_err(CliError::from_library)?;
    let entry = serde_json::json!({ "issuer": issuer, "fetched_at": now, "document": doc });
    if let Err(e) = store.save(DISCOVERY_CACHE, &entry.to_string()) {
        tracing::warn!(error = %e, "cannot cache the discovery document");
    }
    ProviderConfig::from_document(&doc, client).map_err(CliError::from)
}

/// Builds the provider configuration for a redirect URI.
pub async fn provider(
    p: &Profile,
    redirect_uri: &str,
    http: &HttpClient,
    store: &Arc<dyn SessionStore>,
) -> Result<ProviderConfig, CliError> {
    let client_id = required(&p.provider.client_id, "--client-id")?;
    let client = match secret(
        &p.provider.client_secret,
        &p.provider.client_secret_file,
        "--client-secret",
    )? {
        Some(secret) => {
            ClientRegistration::confidential(client_id, ClientSecret::new(secret), redirect_uri)
        }
        None => ClientRegistration::public(client_id, redirect_uri),
    };
    let template = match p.provider.provider.unwrap_or(ProviderName::Custom) {
        ProviderName::Custom => None,
        ProviderName::Google => Some(ProviderTemplate::Google),
        ProviderName::Microsoft => Some(ProviderTemplate::Microsoft {
            tenant: p.provider.tenant.clone().unwrap_or_else(|| "common".into()),
        }),
        ProviderName::Github => Some(ProviderTemplate::GitHub),
        ProviderName::Okta => Some(ProviderTemplate::Okta {
            domain: required(&p.provider.domain, "--domain")?.to_string(),
            authorization_server: p.provider.authorization_server.clone(),
        }),
        ProviderName::Auth0 => Some(ProviderTemplate::Auth0 {
            domain: required(&p.provider.domain, "--domain")?.to_string(),
            audience: p.provider.audience.clone(),
        }),
        ProviderName::Keycloak => Some(ProviderTemplate::Keycloak {
            base_url: required(&p.provider.base_url, "--base-url")?.to_string(),
            realm: required(&p.provider.realm, "--realm")?.to_string(),
        }),
    };
    let provider = match (
        template,
        &p.provider.authorization_endpoint,
        &p.provider.token_endpoint,
    ) {
        (Some(t), _, _) => t
            .build(client)
            .map_err(|e| CliError::config(e.to_string()))?,
        (None, Some(authorization), Some(token)) => {
            custom_endpoints(p, client, authorization, token)?
        }
        (None, None, None) => {
            discover(
                http,
                required(&p.provider.issuer, "--issuer")?,
                client,
                store,
            )
            .await?
        }
        (None, _, _) => return Err(CliError::config(
            "a provider without discovery needs both --authorization-endpoint and --token-endpoint",
        )),
    };
    // --scope is sent exactly as given; otherwise offline_access is added where the provider
    // takes it, for a refresh token.
    let mut provider = match &p.provider.scope {
        Some(scope) => provider.with_scopes(scope.split_whitespace()),
        None => provider.with_offline_access(),
    };
    if let Some(acr) = p
        .provider
        .acr_values
        .as_deref()
        .filter(|a| !a.trim().is_empty())
    {
        provider
            .additional_params
            .insert("acr_values".into(), acr.trim().to_string());
    }
    Ok(provider)
}

/// A custom provider from explicit endpoints (no discovery).
fn custom_endpoints(
    p: &Profile,
    client: ClientRegistration,
    authorization: &str,
    token: &str,
) -> Result<ProviderConfig, CliError> {
    let cfg = |e: sipauth::ConfigError| CliError::config(e.to_string());
    let mut provider = ProviderConfig::custom(client, authorization, token).map_err(cfg)?;
    let optional = |flag: &'static str, v: &Option<String>| {
        v.as_deref()
            .map(|u| sipauth::parse_secure_url(flag, u))
            .transpose()
            .map_err(cfg)
    };
    provider.userinfo_endpoint = optional("--userinfo-endpoint", &p.provider.userinfo_endpoint)?;
    provider.revocation_endpoint =
        optional("--revocation-endpoint", &p.provider.revocation_endpoint)?;
    provider.jwks_uri = optional("--jwks-uri", &p.provider.jwks_uri)?;
    provider.issuer = p.provider.issuer.clone();
    provider = provider.with_scopes(["openid", "email", "profile"]);
    if provider.jwks_uri.is_none() || provider.issuer.is_none() {
        // Without keys and an issuer an ID token cannot be verified: plain OAuth, identity from
        // userinfo.
        provider = provider.with_scopes(["email", "profile"]);
        if provider.userinfo_endpoint.is_none() {
            return Err(CliError::config(
                "a provider without discovery needs --jwks-uri and --issuer (OpenID), or --userinfo-endpoint (plain OAuth)",
            ));
        }
    }
    Ok(provider)
}

/// The SIP domain: the profile's, else the issuer's (or authorization endpoint's) host.
pub fn sip_domain(p: &Profile, provider: &ProviderConfig) -> String {
    p.sip.sip_domain.clone().unwrap_or_else(|| {
        provider
            .issuer
            .as_deref()
            .and_then(|i| url::Url::parse(i).ok())
            .and_then(|u| u.host_str().map(str::to_string))
            .or_else(|| {
                provider
                    .authorization_endpoint
                    .host_str()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "localhost".into())
    })
}

/// The WebSocket server when none is configured: the service's default, defined once.
pub use sipauth_server::DEFAULT_WS_URI;

/// Builds the credential mapping.
pub fn mapping(p: &Profile, provider: &ProviderConfig) -> Result<CredentialMapping, CliError> {
    let strategy = match p
        .strategy
        .password_strategy
        .unwrap_or(StrategyName::AccessToken)
    {
        StrategyName::AccessToken => PasswordStrategy::AccessToken,
        StrategyName::IdToken => PasswordStrategy::IdToken,
        StrategyName::Hash => PasswordStrategy::Hash {
            algorithm: if p.strategy.hash_sha512 == Some(true) {
                HashAlgorithm::Sha512
            } else {
                HashAlgorithm::Sha256
            },
            salt: p.strategy.hash_salt.clone(),
        },
        StrategyName::Api => {
            let endpoint = required(&p.strategy.api_endpoint, "--api-endpoint")?;
            let strategy = PasswordStrategy::api_endpoint(
                endpoint,
                if p.strategy.api_get == Some(true) {
                    ApiMethod::Get
                } else {
                    ApiMethod::Post
                },
            )
            .map_err(|e| CliError::config(format!("--api-endpoint: {e}")))?;
            match &p.strategy.device_name {
                Some(name) => strategy.with_device_name(name.clone()),
                None => strategy,
            }
        }
        StrategyName::Static => PasswordStrategy::Static {
            password: SipPassword::new(required(
                &secret(
                    &p.strategy.static_password,
                    &p.strategy.static_password_file,
                    "--static-password",
                )?,
                "--static-password",
            )?),
        },
        StrategyName::HmacEphemeral => PasswordStrategy::HmacEphemeral {
            secret: SipPassword::new(required(
                &secret(
                    &p.strategy.hmac_secret,
                    &p.strategy.hmac_secret_file,
                    "--hmac-secret",
                )?,
                "--hmac-secret",
            )?),
            algorithm: HmacAlgorithm::Sha1,
            ttl: Duration::from_secs(p.strategy.hmac_ttl.unwrap_or(3600)),
        },
    };
    let ws = p
        .sip
        .ws_uri
        .clone()
        .unwrap_or_else(|| DEFAULT_WS_URI.into());
    // `--ws-uri` was checked with every other setting by `check_settings`, before any request.
    let mut m = CredentialMapping::new(sip_domain(p, provider), ws, strategy);
    m = match username_claims(p, provider) {
        UsernameClaims::One(claim) => m.username_claim(claim),
        UsernameClaims::InOrder(claims) => m.username_claims(claims.iter().copied()),
    };
    // Multi-tenant providers: two people may share a local part, so collision-free is the
    // default there; `--collision-free-usernames false` asks for the plain local part.
    let collision_free = p.sip.collision_free_usernames.unwrap_or(
        p.sip.username_claim.is_none()
            && provider.is_multi_tenant()
            && provider.kind != sipauth::ProviderKind::GitHub,
    );
    if collision_free {
        m = m.collision_free_usernames();
    }
    if let Some(realm) = &p.sip.sip_realm {
        m = m.realm(realm);
    }
    Ok(m)
}

/// The claims that name a profile's SIP account.
pub enum UsernameClaims {
    /// Exactly this claim (`--username-claim`, or the provider's own login).
    One(String),
    /// The first of these that gives a name: the provisioning service's rule.
    InOrder(&'static [&'static str]),
}

/// Which claims name the account: `--username-claim`; GitHub's login and Entra ID's UPN
/// (`preferred_username`: Entra's `email` is unverified and user-editable); otherwise the
/// provisioning service's rule (a verified email's local part, then preferred_username, then
/// the subject), so the command and the service name a person the same.
pub fn username_claims(p: &Profile, provider: &sipauth::ProviderConfig) -> UsernameClaims {
    if let Some(claim) = &p.sip.username_claim {
        UsernameClaims::One(claim.clone())
    } else if matches!(
        provider.kind,
        sipauth::ProviderKind::GitHub | sipauth::ProviderKind::Microsoft
    ) {
        UsernameClaims::One("preferred_username".into())
    } else {
        UsernameClaims::InOrder(&sipauth::sip::DEFAULT_USERNAME_CLAIMS)
    }
}
