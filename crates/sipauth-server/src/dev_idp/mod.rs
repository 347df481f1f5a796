//! The development identity provider, only with `sipauth serve --dev`: a small but strict OpenID
//! provider at `/dev-idp`, so a newcomer gets from a clone to SIP credentials without
//! registering an app anywhere. It is loudly labelled on every page and in the logs.
//!
//! Strict like a real provider: authorization code with PKCE S256 only; exact redirect URIs
//! (any port for loopback redirects of native clients, RFC 8252 §7.3); single-use codes; the
//! nonce echoed; `iss` in the callback (RFC 9207); refresh tokens (with `offline_access`)
//! rotated on every use, a reused one revoking the whole grant; RS256 ID tokens and RFC 9068
//! access tokens signed by a key kept in the data directory ([`keys`]); userinfo, revocation
//! (RFC 7009) and introspection (RFC 7662). Clients: `sipauth-dev` (public, native: the command)
//! and `sipauth-web` (confidential: the service's own sign-in page). The demo users each get a
//! button on the login page.
//!
//! What it does not do: consent screens, passwords, the device grant, dynamic registration.
//!
//! Split by job: this file holds the provider and its setup; `books.rs` its clients, requests,
//! codes and grants; `tokens.rs` what it signs; `routes.rs` its endpoints; `keys.rs` the
//! signing key; `pages.rs` the login page. Behind the `dev-idp` feature.

mod books;
mod keys;
mod pages;
mod routes;
mod tokens;

use std::sync::{Arc, Mutex};

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use sha2::{Digest, Sha256};
use sipauth::{SharedClock, SipPassword};

use books::{Books, Client};
use keys::SigningKey;
use routes::{authorize, discovery, introspect, jwks, login, revoke, token, userinfo};

/// The public client of the command (`sipauth login --client-id sipauth-dev`).
pub(crate) const CLI_CLIENT: &str = "sipauth-dev";
/// The confidential client of the service's own sign-in page.
pub(crate) const WEB_CLIENT: &str = "sipauth-web";
/// Scopes it knows.
pub(crate) const SCOPES: [&str; 4] = ["openid", "email", "profile", "offline_access"];
/// How long codes live (seconds).
const CODE_TTL: i64 = 60;
/// How long an authorization request may wait on the login page (seconds).
const REQUEST_TTL: i64 = 600;
/// The most pending requests, codes or grants the books keep: past it, new ones are refused
/// (503) until old ones expire, so a flood of sign-ins cannot grow memory.
const MAX_RECORDS: usize = 10_000;
/// Access and ID token lifetime (seconds).
const TOKEN_TTL: i64 = 3600;

/// A demo user.
#[derive(Debug, Clone)]
pub struct DevUser {
    /// The login and subject (`alice`).
    pub login: String,
    /// The display name (`Alice`).
    pub name: String,
}

impl DevUser {
    /// A user from a login name.
    pub fn new(login: &str) -> Self {
        let login: String = login
            .trim()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            .collect::<String>()
            .to_ascii_lowercase();
        let mut name = login.clone();
        if let Some(first) = name.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        Self { login, name }
    }

    fn email(&self) -> String {
        format!("{}@dev.sipauth.test", self.login)
    }
}

/// The provider.
#[derive(Debug)]
pub struct DevIdp {
    issuer: String,
    key: SigningKey,
    users: Vec<DevUser>,
    clients: Vec<Client>,
    books: Mutex<Books>,
    clock: SharedClock,
}

/// 32 random bytes, URL-safe; `None` when the system's randomness fails (the caller refuses:
/// never an empty code or id).
fn random() -> Option<String> {
    sipauth::random_urlsafe(32).ok().filter(|r| !r.is_empty())
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// An OAuth error answer (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

impl DevIdp {
    /// The provider at `issuer` (`http://ADDR/dev-idp`), its key in `key_file`, these users; the
    /// web client's secret is made here and handed to the sign-in page.
    pub fn new(
        issuer: &str,
        key_file: &std::path::Path,
        users: Vec<DevUser>,
        web_redirect: &str,
        web_secret: SipPassword,
        clock: SharedClock,
    ) -> Result<Arc<Self>, String> {
        let key = SigningKey::load_or_create(key_file)?;
        let users = if users.is_empty() {
            vec![DevUser::new("alice"), DevUser::new("bob")]
        } else {
            users
        };
        let clients = vec![
            Client {
                id: CLI_CLIENT,
                secret: None,
                redirects: vec!["/callback".into(), "/oauth/callback".into(), "/".into()],
                native: true,
            },
            Client {
                id: WEB_CLIENT,
                secret: Some(web_secret),
                redirects: vec![web_redirect.to_string()],
                native: false,
            },
        ];
        tracing::warn!(
            issuer,
            users = %users.iter().map(|u| u.login.as_str()).collect::<Vec<_>>().join(", "),
            "DEVELOPMENT identity provider enabled: anyone can sign in as a demo user; never use --dev in production"
        );
        Ok(Arc::new(Self {
            issuer: issuer.trim_end_matches('/').to_string(),
            key,
            users,
            clients,
            books: Mutex::new(Books::default()),
            clock,
        }))
    }

    /// The issuer URL.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The demo users.
    pub fn users(&self) -> &[DevUser] {
        &self.users
    }

    fn now(&self) -> i64 {
        self.clock.now_unix()
    }

    /// How the service trusts this provider's tokens: its keys (fetched from itself once it
    /// listens), ID tokens and access tokens of both its clients, its userinfo.
    pub fn issuer_config(
        &self,
        http: &sipauth::HttpClient,
        clock: SharedClock,
    ) -> Result<crate::IssuerConfig, String> {
        let url = |path: &str| {
            sipauth::parse_secure_url("dev issuer", &format!("{}{path}", self.issuer))
                .map_err(|e| e.to_string())
        };
        let jwks = sipauth::JwksCache::new(
            url("/jwks")?,
            http.clone(),
            clock.clone(),
            sipauth::VerifyOptions::default(),
        );
        Ok(crate::IssuerConfig {
            verifier: sipauth::TokenVerifier::new(
                sipauth::Issuer::new(self.issuer.clone()),
                Some(jwks),
                clock,
            ),
            audiences: vec![CLI_CLIENT.into(), WEB_CLIENT.into()],
            introspector: None,
            userinfo: Some((http.clone(), url("/userinfo")?)),
            userinfo_tokens: false,
            opaque_prefix: None,
        })
    }

    /// The web sign-in page's client of this provider (built without discovery: the provider
    /// is this very process, not listening yet).
    pub fn web_client(
        &self,
        http: &sipauth::HttpClient,
        clock: SharedClock,
        redirect: &str,
        secret: &SipPassword,
    ) -> Result<sipauth::OidcClient, String> {
        let i = &self.issuer;
        let registration = sipauth::ClientRegistration::confidential(
            WEB_CLIENT,
            sipauth::ClientSecret::new(secret.secret().to_string()),
            redirect,
        );
        let mut provider = sipauth::ProviderConfig::custom(
            registration,
            &format!("{i}/authorize"),
            &format!("{i}/token"),
        )
        .map_err(|e| e.to_string())?
        .with_scopes(["openid", "email", "profile"]);
        let parse = |p: &str| url::Url::parse(&format!("{i}{p}")).map_err(|e| e.to_string());
        provider.issuer = Some(i.clone());
        provider.jwks_uri = Some(parse("/jwks")?);
        provider.userinfo_endpoint = Some(parse("/userinfo")?);
        provider.revocation_endpoint = Some(parse("/revoke")?);
        provider.introspection_endpoint = Some(parse("/introspect")?);
        provider.authorization_response_iss_parameter_supported = true;
        sipauth::OidcClient::builder(provider)
            .http(http.clone())
            .clock(clock)
            .build()
            .map_err(|e| e.to_string())
    }

    /// The router, to be nested at `/dev-idp`.
    pub fn router<S: Clone + Send + Sync + 'static>(self: &Arc<Self>) -> Router<S> {
        Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/login", post(login))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo).post(userinfo))
            .route("/revoke", post(revoke))
            .route("/introspect", post(introspect))
            .with_state(self.clone())
    }
}
