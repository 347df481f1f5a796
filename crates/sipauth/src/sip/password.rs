//! Password strategies: how a signed-in identity becomes a SIP password (the guide's
//! `passwordStrategy`), plus `hmac_ephemeral` for Kamailio's auth_ephemeral / the TURN REST
//! convention. Each strategy is a variant of [`PasswordStrategy`]; this module produces the
//! password (and, for the API and ephemeral strategies, the username or other overrides) and
//! leaves assembling the credentials to [`super::credentials`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use url::Url;

use super::CredentialError;
use crate::error::ConfigError;
use crate::error::Endpoint;
use crate::http::{HttpClient, HttpRequest};
use crate::oidc::token::TokenSet;
use crate::oidc::userinfo::UserInfo;
use crate::secret::SipPassword;

/// The digest of the `hash` strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashAlgorithm {
    /// SHA-256 (64 hex characters).
    #[default]
    Sha256,
    /// SHA-512 (128 hex characters).
    Sha512,
}

/// The MAC of the `hmac_ephemeral` strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HmacAlgorithm {
    /// HMAC-SHA1: Kamailio auth_ephemeral's and TURN REST's default.
    #[default]
    Sha1,
    /// HMAC-SHA256.
    Sha256,
}

/// The HTTP method of the `api_generated` strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiMethod {
    /// POST `{"userInfo": ...}` as JSON.
    #[default]
    Post,
    /// GET, no body.
    Get,
}

/// What a custom password generator returns.
pub(crate) type CustomPasswordFuture =
    Pin<Box<dyn Future<Output = Result<SipPassword, String>> + Send + 'static>>;

/// A custom password generator: given the tokens and the user info.
#[derive(Clone)]
pub struct CustomPassword(Arc<dyn Fn(TokenSet, UserInfo) -> CustomPasswordFuture + Send + Sync>);

impl std::fmt::Debug for CustomPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomPassword(..)")
    }
}

/// How the SIP password is produced.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum PasswordStrategy {
    /// The OAuth2 access token itself (a SIP server that validates tokens).
    AccessToken,
    /// The OpenID ID token itself.
    IdToken,
    /// Lowercase hex of SHA-x over `<sub>:<access_token><salt>`, byte-exact with the reference so
    /// a backend built for it interoperates. The salt ships to clients: it is no secret, and the
    /// password changes with every access token.
    Hash {
        /// SHA-256 or SHA-512.
        algorithm: HashAlgorithm,
        /// Appended to the token (empty when absent).
        salt: Option<String>,
    },
    /// Your backend issues the password.
    ApiGenerated {
        /// The endpoint (HTTPS except loopback).
        endpoint: Url,
        /// POST with `{"userInfo": ...}`, or GET with no body.
        method: ApiMethod,
        /// The request's total timeout.
        timeout: Duration,
        /// This device's name, sent with a POST (`{"device": {"name": ...}}`): a service with
        /// credentials per device gives it its own ([`PasswordStrategy::with_device_name`]).
        device: Option<String>,
    },
    /// One password for everyone: for development only (a warning is logged when used).
    Static {
        /// The password.
        password: SipPassword,
    },
    /// Your own async function.
    Custom(CustomPassword),
    /// Kamailio auth_ephemeral / TURN REST: username `<expiry>:<user>`, password
    /// base64(HMAC(secret, username)). For server-side use: the secret must stay on the server.
    HmacEphemeral {
        /// The secret shared with the SIP server.
        secret: SipPassword,
        /// HMAC-SHA1 (default) or HMAC-SHA256.
        algorithm: HmacAlgorithm,
        /// How long the credentials live.
        ttl: Duration,
    },
}

/// A path resolved against the browser page's origin.
#[cfg(all(feature = "web", target_arch = "wasm32"))]
fn resolve_on_page(field: &'static str, path: &str) -> Result<Url, ConfigError> {
    let page =
        crate::browser::current_url().map_err(|_| ConfigError::Missing("a browser window"))?;
    let invalid = |reason: String| ConfigError::InvalidUrl {
        field,
        value: path.to_string(),
        reason,
    };
    Url::parse(&page)
        .and_then(|page| page.join(path))
        .map_err(|e| invalid(e.to_string()))
}

/// Outside a browser page there is no origin to resolve a path against.
#[cfg(not(all(feature = "web", target_arch = "wasm32")))]
fn resolve_on_page(field: &'static str, path: &str) -> Result<Url, ConfigError> {
    Err(ConfigError::InvalidUrl {
        field,
        value: path.to_string(),
        reason: "a relative endpoint works only in a browser page (wasm32, feature `web`), where it is resolved against the page's origin; give an absolute https URL".into(),
    })
}

impl PasswordStrategy {
    /// The `api_generated` strategy with a 10 s timeout.
    pub fn api(endpoint: Url, method: ApiMethod) -> Self {
        PasswordStrategy::ApiGenerated {
            endpoint,
            method,
            timeout: Duration::from_secs(10),
            device: None,
        }
    }

    /// The `api_generated` strategy naming this device in its requests (`"Alice's laptop"`):
    /// a service with credentials per device answers this device's own credentials, the same
    /// for the same name. Other strategies are unchanged.
    pub fn with_device_name(self, name: impl Into<String>) -> Self {
        match self {
            PasswordStrategy::ApiGenerated {
                endpoint,
                method,
                timeout,
                ..
            } => PasswordStrategy::ApiGenerated {
                endpoint,
                method,
                timeout,
                device: Some(name.into()),
            },
            other => other,
        }
    }

    /// The `api_generated` strategy for an endpoint as written in configuration: an absolute
    /// URL (HTTPS, or HTTP on loopback), or, in a browser page (wasm32, feature `web`), a path
    /// such as the guide's `"/api/sip/provision"`, resolved against the page's origin (an app
    /// served beside `sipauth serve --static-dir`). Elsewhere a path is refused: there is no
    /// page to resolve it against.
    pub fn api_endpoint(endpoint: &str, method: ApiMethod) -> Result<Self, ConfigError> {
        const FIELD: &str = "password endpoint";
        let url = if endpoint.starts_with('/') && !endpoint.starts_with("//") {
            resolve_on_page(FIELD, endpoint)?
        } else {
            crate::url_policy::parse(FIELD, endpoint)?
        };
        crate::url_policy::require_secure(FIELD, &url)?;
        Ok(Self::api(url, method))
    }

    /// A custom strategy from an async closure.
    pub fn custom<F, Fut>(generator: F) -> Self
    where
        F: Fn(TokenSet, UserInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<SipPassword, String>> + Send + 'static,
    {
        PasswordStrategy::Custom(CustomPassword(Arc::new(move |t, u| {
            Box::pin(generator(t, u))
        })))
    }

    /// The strategy's name, as in configuration files.
    pub fn name(&self) -> &'static str {
        match self {
            PasswordStrategy::AccessToken => "access_token",
            PasswordStrategy::IdToken => "id_token",
            PasswordStrategy::Hash { .. } => "hash",
            PasswordStrategy::ApiGenerated { .. } => "api_generated",
            PasswordStrategy::Static { .. } => "static",
            PasswordStrategy::Custom(_) => "custom",
            PasswordStrategy::HmacEphemeral { .. } => "hmac_ephemeral",
        }
    }
}

/// What a strategy produced: the password and anything it overrides.
#[derive(Debug, Clone, Default)]
pub(crate) struct Issued {
    /// The password.
    pub password: Option<SipPassword>,
    /// A username to use instead of the mapped one (API).
    pub username: Option<String>,
    /// An authorization username (ephemeral: `<expiry>:<user>`).
    pub authorization_username: Option<String>,
    /// A SIP domain override (API).
    pub sip_domain: Option<String>,
    /// A WebSocket URI override (API).
    pub ws_server_uri: Option<String>,
    /// A realm override (API).
    pub realm: Option<String>,
    /// When these credentials stop working: the token's expiry for a password that is or
    /// derives from a token, the answer's for the API, the TTL's for ephemeral; `None`: never.
    pub expires_at: Option<i64>,
    /// The registrar for native clients (API).
    pub sip_server: Option<String>,
    /// The call rights the SIP server enforces (API).
    pub rights: Option<Vec<String>>,
}

/// Lowercase hex of SHA-x over `<sub>:<access_token><salt>`.
pub(crate) fn hash_password(
    algorithm: HashAlgorithm,
    sub: &str,
    access_token: &str,
    salt: &str,
) -> String {
    let input = format!("{sub}:{access_token}{salt}");
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    match algorithm {
        HashAlgorithm::Sha256 => hex(&Sha256::digest(input.as_bytes())),
        HashAlgorithm::Sha512 => hex(&Sha512::digest(input.as_bytes())),
    }
}

/// The auth_ephemeral pair for `user`, valid until `expires_at`.
pub fn ephemeral_credentials(
    algorithm: HmacAlgorithm,
    secret: &[u8],
    user: &str,
    expires_at: i64,
) -> Result<(String, SipPassword), CredentialError> {
    let username = format!("{expires_at}:{user}");
    let bad_key = |_| CredentialError::Strategy("hmac_ephemeral: unusable secret".into());
    let mac = match algorithm {
        HmacAlgorithm::Sha1 => {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).map_err(bad_key)?;
            mac.update(username.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        HmacAlgorithm::Sha256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(bad_key)?;
            mac.update(username.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    };
    Ok((username, SipPassword::new(STANDARD.encode(mac))))
}

/// Runs a strategy.
pub(crate) async fn issue(
    strategy: &PasswordStrategy,
    tokens: &TokenSet,
    user_info: &UserInfo,
    mapped_username: &str,
    http: &HttpClient,
    now: i64,
) -> Result<Issued, CredentialError> {
    let password = |p: SipPassword| {
        Ok(Issued {
            password: Some(p),
            ..Issued::default()
        })
    };
    // A password that is (or derives from) a token works as long as that token.
    let token_bound = |p: SipPassword, expires_at: Option<i64>| {
        Ok(Issued {
            password: Some(p),
            expires_at,
            ..Issued::default()
        })
    };
    match strategy {
        PasswordStrategy::AccessToken => token_bound(
            SipPassword::new(tokens.access_token.secret()),
            tokens.expires_at,
        ),
        PasswordStrategy::IdToken => match &tokens.id_token {
            Some(id) => token_bound(
                SipPassword::new(id.secret()),
                tokens.id_token_expires_at.or(tokens.expires_at),
            ),
            None => Err(CredentialError::IdTokenUnavailable),
        },
        PasswordStrategy::Hash { algorithm, salt } => token_bound(
            SipPassword::new(hash_password(
                *algorithm,
                &user_info.sub,
                tokens.access_token.secret(),
                salt.as_deref().unwrap_or_default(),
            )),
            tokens.expires_at,
        ),
        PasswordStrategy::Static { password: p } => {
            tracing::warn!(
                "the static password strategy gives every user one password: development only"
            );
            password(p.clone())
        }
        PasswordStrategy::Custom(CustomPassword(generator)) => {
            let p = generator(tokens.clone(), user_info.clone())
                .await
                .map_err(|e| CredentialError::Strategy(format!("custom: {e}")))?;
            if p.secret().is_empty() {
                return Err(CredentialError::Strategy("custom: empty password".into()));
            }
            password(p)
        }
        PasswordStrategy::HmacEphemeral {
            secret,
            algorithm,
            ttl,
        } => {
            let expires_at = now.saturating_add(crate::clock::secs(*ttl));
            let (username, p) = ephemeral_credentials(
                *algorithm,
                secret.secret().as_bytes(),
                mapped_username,
                expires_at,
            )?;
            Ok(Issued {
                password: Some(p),
                authorization_username: Some(username),
                expires_at: Some(expires_at),
                ..Issued::default()
            })
        }
        PasswordStrategy::ApiGenerated {
            endpoint,
            method,
            timeout,
            device,
        } => {
            call_api(
                http,
                endpoint,
                (*method, device.as_deref()),
                *timeout,
                tokens,
                user_info,
            )
            .await
        }
    }
}

/// Ends the caller's SIP account at the provisioning service (`DELETE` on the `api`
/// strategy's endpoint with the access token): its password stops working at the SIP server at
/// once. `Ok(false)` for other strategies (nothing is held elsewhere); a 404 is already gone.
pub(crate) async fn deprovision(
    strategy: &PasswordStrategy,
    http: &HttpClient,
    tokens: &TokenSet,
) -> Result<bool, CredentialError> {
    let Some((url, raw)) = call_service(
        strategy,
        http,
        tokens,
        |e| Ok(e.clone()),
        HttpRequest::delete,
    )
    .await?
    else {
        return Ok(false);
    };
    if raw.is_success() || raw.status == 404 {
        Ok(true)
    } else {
        Err(api_status(&url, &raw))
    }
}

/// One request of the `api` strategy's provisioning service beside its provisioning call
/// (deprovision, devices): to the URL `url_of` makes of the endpoint, the method `request`
/// names, with the access token and the strategy's timeout. The URL and the answer (any
/// status); `None` for other strategies.
async fn call_service(
    strategy: &PasswordStrategy,
    http: &HttpClient,
    tokens: &TokenSet,
    url_of: impl FnOnce(&Url) -> Result<Url, CredentialError>,
    request: fn(Url) -> HttpRequest,
) -> Result<Option<(Url, crate::http::RawResponse)>, CredentialError> {
    let PasswordStrategy::ApiGenerated {
        endpoint, timeout, ..
    } = strategy
    else {
        return Ok(None);
    };
    crate::url_policy::require_secure("password endpoint", endpoint)
        .map_err(|e| CredentialError::Strategy(e.to_string()))?;
    let url = url_of(endpoint)?;
    let request = request(url.clone())
        .bearer(tokens.access_token.secret())
        .timeout(*timeout);
    let raw = http
        .send(Endpoint::PasswordApi, request)
        .await
        .map_err(|e| api_failure(&url, e))?;
    Ok(Some((url, raw)))
}

/// The provisioning service's devices endpoint beside the `api` strategy's endpoint
/// (`…/api/sip/provision` → `…/api/sip/devices`, or `…/devices/{id}`).
fn devices_endpoint(endpoint: &Url, id: Option<&str>) -> Result<Url, CredentialError> {
    let tail = match id {
        Some(id) => format!(
            "devices/{}",
            url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
        ),
        None => "devices".into(),
    };
    endpoint
        .join(&tail)
        .map_err(|e| CredentialError::Strategy(format!("the devices endpoint: {e}")))
}

/// The person's devices at the provisioning service (`GET …/devices`, credentials per
/// device); `None` for other strategies.
pub(crate) async fn list_devices(
    strategy: &PasswordStrategy,
    http: &HttpClient,
    tokens: &TokenSet,
) -> Result<Option<sipauth_wire::DeviceList>, CredentialError> {
    let to_devices = |e: &Url| devices_endpoint(e, None);
    let Some((url, raw)) =
        call_service(strategy, http, tokens, to_devices, HttpRequest::get).await?
    else {
        return Ok(None);
    };
    if !raw.is_success() {
        return Err(api_status(&url, &raw));
    }
    serde_json::from_slice(&raw.body).map(Some).map_err(|_| {
        CredentialError::Strategy("the devices answer is not a list of devices".into())
    })
}

/// Revokes one of the person's devices at the provisioning service (`DELETE …/devices/{id}`):
/// false when it has no such device; `None` for other strategies.
pub(crate) async fn revoke_device(
    strategy: &PasswordStrategy,
    http: &HttpClient,
    tokens: &TokenSet,
    id: &str,
) -> Result<Option<bool>, CredentialError> {
    let to_device = |e: &Url| devices_endpoint(e, Some(id));
    let Some((url, raw)) =
        call_service(strategy, http, tokens, to_device, HttpRequest::delete).await?
    else {
        return Ok(None);
    };
    match raw.status {
        _ if raw.is_success() => Ok(Some(true)),
        404 => Ok(Some(false)),
        _ => Err(api_status(&url, &raw)),
    }
}

/// A password API's error answer, with the service's code when it is one of sipauth's.
fn api_status(endpoint: &Url, raw: &crate::http::RawResponse) -> CredentialError {
    // Only `error` counts (a description is optional to other backends).
    #[derive(serde::Deserialize)]
    struct Body {
        error: String,
    }
    let refusal = serde_json::from_slice::<Body>(&raw.body)
        .ok()
        .and_then(|body| sipauth_wire::ErrorCode::parse(&body.error));
    CredentialError::ApiStatus {
        endpoint: endpoint.to_string(),
        status: raw.status,
        refusal,
    }
}

/// A password API request that got no answer.
fn api_failure(endpoint: &Url, e: crate::error::Error) -> CredentialError {
    match e {
        crate::error::Error::Transport(e) if e.timed_out => CredentialError::ApiTimeout {
            endpoint: endpoint.to_string(),
        },
        crate::error::Error::Transport(e) => CredentialError::ApiUnreachable {
            endpoint: endpoint.to_string(),
            message: e.message,
        },
        other => CredentialError::Strategy(format!("api_generated: {other}")),
    }
}

async fn call_api(
    http: &HttpClient,
    endpoint: &Url,
    (method, device): (ApiMethod, Option<&str>),
    timeout: Duration,
    tokens: &TokenSet,
    user_info: &UserInfo,
) -> Result<Issued, CredentialError> {
    crate::url_policy::require_secure("password endpoint", endpoint)
        .map_err(|e| CredentialError::Strategy(e.to_string()))?;
    let request = match method {
        ApiMethod::Post => {
            HttpRequest::post(endpoint.clone()).json(&sipauth_wire::ProvisionRequest {
                user_info: match serde_json::to_value(user_info) {
                    Ok(serde_json::Value::Object(claims)) => Some(claims),
                    _ => None,
                },
                device: device.map(|name| sipauth_wire::DeviceName {
                    name: name.to_string(),
                }),
            })
        }
        ApiMethod::Get => HttpRequest::get(endpoint.clone()),
    }
    .bearer(tokens.access_token.secret())
    .timeout(timeout);
    let raw = http
        .send(Endpoint::PasswordApi, request)
        .await
        .map_err(|e| api_failure(endpoint, e))?;
    if !raw.is_success() {
        return Err(api_status(endpoint, &raw));
    }
    let answer: sipauth_wire::ProvisionResponse =
        serde_json::from_slice(&raw.body).map_err(|_| {
            CredentialError::Strategy(
                "api_generated: the answer is not a JSON object of the provisioning API".into(),
            )
        })?;
    let password = answer.password().map(str::to_string).ok_or_else(|| {
        CredentialError::Strategy("api_generated: no password or sipPassword in the answer".into())
    })?;
    let text = |v: Option<String>| v.filter(|s| !s.is_empty());
    Ok(Issued {
        password: Some(SipPassword::new(password)),
        username: text(answer.username),
        sip_domain: text(answer.sip_domain),
        ws_server_uri: text(answer.ws_server_uri),
        realm: text(answer.realm),
        // Kamailio auth_ephemeral answers: `<expiry>:<user>` and its expiry must be kept, or
        // the credentials are refused.
        authorization_username: text(answer.authorization_username),
        expires_at: answer.expires_at,
        sip_server: text(answer.sip_server),
        rights: super::credentials::rights_from_answer(answer.rights.as_deref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_a_relative_or_insecure_api_endpoint_outside_a_browser_page() {
        for bad in [
            "/api/sip/provision",
            "//evil.example/api",
            "http://api.example.com/provision",
            "https://user:pw@api.example.com/provision",
        ] {
            assert!(
                PasswordStrategy::api_endpoint(bad, ApiMethod::Post).is_err(),
                "{bad}"
            );
        }
        let err = PasswordStrategy::api_endpoint("/api/sip/provision", ApiMethod::Post)
            .unwrap_err()
            .to_string();
        assert!(err.contains("browser page"), "{err}");
        for good in [
            "https://api.example.com/api/sip/provision",
            "http://127.0.0.1:8080/api/sip/provision",
        ] {
            assert!(PasswordStrategy::api_endpoint(good, ApiMethod::Post).is_ok());
        }
    }

    // Known answers computed independently (Python hashlib/hmac).
    const SUB: &str = "248289761001";
    const AT: &str = "ya29.a0AfH6SM-example-token";

    #[test]
    fn hash_matches_known_answers() {
        assert_eq!(
            hash_password(HashAlgorithm::Sha256, SUB, AT, "pepper"),
            "2d9e9eed85712fc00968a22ee1a2637f77e15f6e551c2293a9dd2b56bdf13dbb"
        );
        assert_eq!(
            hash_password(HashAlgorithm::Sha512, SUB, AT, "pepper"),
            "ffad40ed8079b2a2dd02f6f79aa11dda03a8809ebc14e48a58959ba051c427958acc1881ef316e0a8e83ee616591b95733146fa90cd77460d8ea2569d4b4c2a5"
        );
        assert_eq!(
            hash_password(HashAlgorithm::Sha256, SUB, AT, ""),
            "41dc7453348a67a1dfa9dd552dfc161c39e7cd1dbc4d06929e7b54ba38e4cfcc"
        );
    }

    #[test]
    fn ephemeral_matches_known_answers() {
        let secret = b"kamailio-shared-secret";
        let (user, pw) =
            ephemeral_credentials(HmacAlgorithm::Sha1, secret, "alice", 1_800_000_000).unwrap();
        assert_eq!(user, "1800000000:alice");
        assert_eq!(pw.secret(), "mBcq/yelsTAr3042QejLe//rRJc=");
        let (_, pw) =
            ephemeral_credentials(HmacAlgorithm::Sha256, secret, "alice", 1_800_000_000).unwrap();
        assert_eq!(pw.secret(), "OG13bYgKuIfvKvxvjQSNiXPww+Wjm4OCtzmZe2VQ3Ec=");
    }
}
