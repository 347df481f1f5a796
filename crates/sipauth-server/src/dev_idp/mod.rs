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

mod keys;
mod pages;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sipauth::{SharedClock, SipPassword};
use subtle::ConstantTimeEq;

use keys::SigningKey;

/// The public client of the command (`sipauth login --client-id sipauth-dev`).
pub const CLI_CLIENT: &str = "sipauth-dev";
/// The confidential client of the service's own sign-in page.
pub const WEB_CLIENT: &str = "sipauth-web";
/// Scopes it knows.
pub const SCOPES: [&str; 4] = ["openid", "email", "profile", "offline_access"];
/// How long codes live (seconds).
const CODE_TTL: i64 = 60;
/// How long an authorization request may wait on the login page (seconds).
const REQUEST_TTL: i64 = 600;
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

#[derive(Debug, Clone)]
struct Client {
    id: &'static str,
    secret: Option<SipPassword>,
    /// Exact redirect URIs; for `native` clients, loopback URIs with these paths, any port.
    redirects: Vec<String>,
    native: bool,
}

#[derive(Debug, Clone)]
struct AuthRequest {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    nonce: Option<String>,
    challenge: String,
    scopes: Vec<String>,
    created: i64,
}

#[derive(Debug, Clone)]
struct Code {
    request: AuthRequest,
    user: String,
    issued: i64,
}

#[derive(Debug, Clone)]
struct Grant {
    user: String,
    client_id: String,
    scopes: Vec<String>,
    revoked: bool,
}

#[derive(Debug, Default)]
struct Books {
    requests: HashMap<String, AuthRequest>,
    codes: HashMap<String, Code>,
    grants: HashMap<String, Grant>,
    /// Refresh token digest → (grant, still current).
    refresh: HashMap<[u8; 32], (String, bool)>,
    /// Revoked access token ids (`jti`).
    revoked_access: std::collections::HashSet<String>,
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

fn random() -> String {
    sipauth::random_urlsafe(32).unwrap_or_default()
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

fn is_loopback_host(url: &url::Url) -> bool {
    matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
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

    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn client(&self, id: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.id == id)
    }

    fn redirect_allowed(client: &Client, redirect: &str) -> bool {
        if !client.native {
            return client.redirects.iter().any(|r| r == redirect);
        }
        let Ok(url) = url::Url::parse(redirect) else {
            return false;
        };
        url.scheme() == "http"
            && is_loopback_host(&url)
            && url.query().is_none()
            && url.fragment().is_none()
            && client.redirects.iter().any(|p| p == url.path())
    }

    /// How the service trusts this provider's tokens: its keys (fetched from itself once it
    /// listens), ID tokens and access tokens of both its clients, its userinfo.
    pub fn issuer_config(
        &self,
        http: &sipauth::HttpClient,
        clock: SharedClock,
    ) -> Result<crate::IssuerConfig, String> {
        let url = |path: &str| {
            sipauth::url_policy::parse_secure("dev issuer", &format!("{}{path}", self.issuer))
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

    fn discovery_document(&self) -> Value {
        let i = &self.issuer;
        json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/authorize"),
            "token_endpoint": format!("{i}/token"),
            "userinfo_endpoint": format!("{i}/userinfo"),
            "jwks_uri": format!("{i}/jwks"),
            "revocation_endpoint": format!("{i}/revoke"),
            "introspection_endpoint": format!("{i}/introspect"),
            "scopes_supported": SCOPES,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email", "email_verified", "name", "preferred_username"],
            "authorization_response_iss_parameter_supported": true,
        })
    }

    fn id_token(
        &self,
        user: &DevUser,
        client_id: &str,
        nonce: Option<&str>,
        scopes: &[String],
    ) -> Result<String, String> {
        let now = self.now();
        let mut claims = json!({
            "iss": self.issuer, "sub": user.login, "aud": client_id, "azp": client_id,
            "iat": now, "exp": now + TOKEN_TTL, "auth_time": now,
        });
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        self.add_profile(&mut claims, user, scopes);
        self.key.sign(&claims, "JWT")
    }

    fn add_profile(&self, claims: &mut Value, user: &DevUser, scopes: &[String]) {
        if scopes.iter().any(|s| s == "email") {
            claims["email"] = json!(user.email());
            claims["email_verified"] = json!(true);
        }
        if scopes.iter().any(|s| s == "profile") {
            claims["name"] = json!(user.name);
            claims["preferred_username"] = json!(user.login);
        }
    }

    /// An RFC 9068 access token for the client (its audience) and the grant.
    fn access_token(&self, grant_id: &str, grant: &Grant) -> Result<String, String> {
        let now = self.now();
        let mut claims = json!({
            "iss": self.issuer, "sub": grant.user, "aud": grant.client_id,
            "client_id": grant.client_id, "iat": now, "exp": now + TOKEN_TTL,
            "jti": format!("{grant_id}.{}", random()), "scope": grant.scopes.join(" "),
        });
        if let Some(user) = self.users.iter().find(|u| u.login == grant.user) {
            self.add_profile(&mut claims, user, &grant.scopes);
        }
        self.key.sign(&claims, "at+jwt")
    }

    /// Checks one of our access tokens: signature (our key), expiry, not revoked.
    fn check_access_token(&self, token: &str) -> Option<Value> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.typ.as_deref() != Some("at+jwt") {
            return None;
        }
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(self.key.jwks()["keys"][0].clone()).ok()?;
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).ok()?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_aud = false;
        validation.set_issuer(&[&self.issuer]);
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).ok()?;
        let claims = data.claims;
        let jti = claims["jti"].as_str()?.to_string();
        let grant_id = jti.split('.').next()?.to_string();
        let books = self.books();
        if books.revoked_access.contains(&jti)
            || books.grants.get(&grant_id).is_none_or(|g| g.revoked)
        {
            return None;
        }
        Some(claims)
    }

    /// Client authentication at the token, revocation and introspection endpoints: Basic, post,
    /// or none for public clients. `Err` is the answer to give.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        form: &HashMap<String, String>,
    ) -> Result<&Client, Box<Response>> {
        let invalid = || {
            Box::new(oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            ))
        };
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| STANDARD.decode(b.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.split_once(':').map(|(i, p)| {
                    let dec = |x: &str| {
                        url::form_urlencoded::parse(format!("x={x}").as_bytes())
                            .next()
                            .map(|(_, v)| v.into_owned())
                            .unwrap_or_default()
                    };
                    (dec(i), dec(p))
                })
            });
        let (id, secret) = match basic {
            Some((id, secret)) => (id, Some(secret)),
            None => (
                form.get("client_id").cloned().unwrap_or_default(),
                form.get("client_secret").cloned(),
            ),
        };
        let client = self.client(&id).ok_or_else(invalid)?;
        match (&client.secret, secret) {
            (None, None) => Ok(client),
            (Some(want), Some(got))
                if bool::from(want.secret().as_bytes().ct_eq(got.as_bytes())) =>
            {
                Ok(client)
            }
            _ => Err(invalid()),
        }
    }

    fn issue(
        &self,
        grant_id: &str,
        grant: &Grant,
        nonce: Option<&str>,
        with_id_token: bool,
    ) -> Response {
        let Some(user) = self.users.iter().find(|u| u.login == grant.user) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the user is gone");
        };
        let access = match self.access_token(grant_id, grant) {
            Ok(t) => t,
            Err(e) => return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e),
        };
        let mut body = json!({
            "access_token": access, "token_type": "Bearer", "expires_in": TOKEN_TTL,
            "scope": grant.scopes.join(" "),
        });
        if with_id_token && grant.scopes.iter().any(|s| s == "openid") {
            match self.id_token(user, &grant.client_id, nonce, &grant.scopes) {
                Ok(t) => body["id_token"] = json!(t),
                Err(e) => {
                    return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e)
                }
            }
        }
        if grant.scopes.iter().any(|s| s == "offline_access") {
            let refresh = random();
            self.books()
                .refresh
                .insert(digest(&refresh), (grant_id.to_string(), true));
            body["refresh_token"] = json!(refresh);
        }
        let mut r = Json(body).into_response();
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        r
    }
}

async fn discovery(State(idp): State<Arc<DevIdp>>) -> Json<Value> {
    Json(idp.discovery_document())
}

async fn jwks(State(idp): State<Arc<DevIdp>>) -> Json<Value> {
    Json(idp.key.jwks())
}

/// The authorization request's parameters.
#[derive(Debug, Deserialize)]
pub struct AuthorizeQuery {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

fn redirect_with(redirect: &str, params: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(redirect) else {
        return pages::error(StatusCode::BAD_REQUEST, "The redirect URI is not a URL.");
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    Redirect::to(url.as_str()).into_response()
}

async fn authorize(State(idp): State<Arc<DevIdp>>, Query(q): Query<AuthorizeQuery>) -> Response {
    // Errors before the redirect URI is known are shown here, never redirected (RFC 6749 §4.1.2.1).
    let Some(client) = q.client_id.as_deref().and_then(|id| idp.client(id)) else {
        return pages::error(StatusCode::BAD_REQUEST, "Unknown client_id.");
    };
    let Some(redirect) = q
        .redirect_uri
        .as_deref()
        .filter(|r| DevIdp::redirect_allowed(client, r))
    else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "This redirect_uri is not registered for the client.",
        );
    };
    let state = q.state.clone();
    let fail = |error: &str, description: &str| {
        let mut params = vec![
            ("error", error),
            ("error_description", description),
            ("iss", idp.issuer.as_str()),
        ];
        if let Some(s) = &state {
            params.push(("state", s));
        }
        redirect_with(redirect, &params)
    };
    if q.response_type.as_deref() != Some("code") {
        return fail("unsupported_response_type", "only response_type=code");
    }
    let Some(challenge) = q
        .code_challenge
        .clone()
        .filter(|c| (43..=128).contains(&c.len()))
    else {
        return fail("invalid_request", "PKCE is required: code_challenge");
    };
    if q.code_challenge_method.as_deref() != Some("S256") {
        return fail(
            "invalid_request",
            "PKCE with code_challenge_method=S256 only",
        );
    }
    let scopes: Vec<String> = q
        .scope
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if let Some(unknown) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return fail("invalid_scope", &format!("unknown scope {unknown}"));
    }
    let request = AuthRequest {
        client_id: client.id.to_string(),
        redirect_uri: redirect.to_string(),
        state: q.state.clone(),
        nonce: q.nonce.clone(),
        challenge,
        scopes,
        created: idp.now(),
    };
    let id = random();
    {
        let mut books = idp.books();
        let now = idp.now();
        books.requests.retain(|_, r| now - r.created < REQUEST_TTL);
        books.requests.insert(id.clone(), request);
    }
    pages::login(&idp.issuer, &id, client.id, &idp.users)
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    request: String,
    user: Option<String>,
    cancel: Option<String>,
}

async fn login(State(idp): State<Arc<DevIdp>>, Form(form): Form<LoginForm>) -> Response {
    let Some(request) = idp.books().requests.remove(&form.request) else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "This sign-in request expired or was already used. Start again from your application.",
        );
    };
    let mut params: Vec<(&str, String)> = vec![("iss", idp.issuer.clone())];
    if let Some(s) = &request.state {
        params.push(("state", s.clone()));
    }
    let user = form
        .user
        .as_deref()
        .and_then(|u| idp.users.iter().find(|d| d.login == u));
    match (form.cancel.is_some(), user) {
        (false, Some(user)) => {
            let code = random();
            idp.books().codes.insert(
                code.clone(),
                Code {
                    request: request.clone(),
                    user: user.login.clone(),
                    issued: idp.now(),
                },
            );
            params.push(("code", code));
        }
        _ => {
            params.push(("error", "access_denied".into()));
            params.push(("error_description", "the user cancelled the sign-in".into()));
        }
    }
    let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    redirect_with(&request.redirect_uri, &refs)
}

async fn token(
    State(idp): State<Arc<DevIdp>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let client = match idp.authenticate(&headers, &form) {
        Ok(c) => c.clone(),
        Err(r) => return *r,
    };
    let bad_grant = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", d);
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            // Single use: taken out whatever happens next.
            let Some(issued) = idp.books().codes.remove(&code) else {
                return bad_grant("the code is unknown, expired or already used");
            };
            if idp.now() - issued.issued > CODE_TTL {
                return bad_grant("the code expired");
            }
            if issued.request.client_id != client.id {
                return bad_grant("the code was issued to another client");
            }
            if form.get("redirect_uri") != Some(&issued.request.redirect_uri) {
                return bad_grant("redirect_uri differs from the authorization request's");
            }
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if !bool::from(
                computed
                    .as_bytes()
                    .ct_eq(issued.request.challenge.as_bytes()),
            ) {
                return bad_grant("PKCE verification failed");
            }
            let grant = Grant {
                user: issued.user.clone(),
                client_id: client.id.to_string(),
                scopes: issued.request.scopes.clone(),
                revoked: false,
            };
            let grant_id = sipauth::random_urlsafe(12).unwrap_or_default();
            idp.books().grants.insert(grant_id.clone(), grant.clone());
            idp.issue(&grant_id, &grant, issued.request.nonce.as_deref(), true)
        }
        Some("refresh_token") => {
            let refresh = form.get("refresh_token").cloned().unwrap_or_default();
            let found = {
                let mut books = idp.books();
                match books.refresh.get(&digest(&refresh)).cloned() {
                    None => Err("the refresh token is unknown"),
                    Some((grant_id, false)) => {
                        // Reuse of a rotated token: treat as theft, end the whole grant.
                        if let Some(g) = books.grants.get_mut(&grant_id) {
                            g.revoked = true;
                        }
                        Err("the refresh token was already used; the grant is revoked")
                    }
                    Some((grant_id, true)) => match books.grants.get(&grant_id).cloned() {
                        Some(g) if !g.revoked && g.client_id == client.id => {
                            books
                                .refresh
                                .insert(digest(&refresh), (grant_id.clone(), false));
                            Ok((grant_id, g))
                        }
                        _ => Err("the grant is revoked or belongs to another client"),
                    },
                }
            };
            match found {
                Ok((grant_id, grant)) => idp.issue(&grant_id, &grant, None, true),
                Err(why) => bad_grant(why),
            }
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "authorization_code or refresh_token",
        ),
    }
}

async fn userinfo(State(idp): State<Arc<DevIdp>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let Some(claims) = idp.check_access_token(token) else {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        return r;
    };
    let scopes: Vec<String> = claims["scope"]
        .as_str()
        .unwrap_or("")
        .split(' ')
        .map(str::to_string)
        .collect();
    let Some(user) = idp
        .users
        .iter()
        .find(|u| Some(u.login.as_str()) == claims["sub"].as_str())
    else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let mut info = json!({ "sub": user.login });
    idp.add_profile(&mut info, user, &scopes);
    Json(info).into_response()
}

async fn revoke(
    State(idp): State<Arc<DevIdp>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let client = match idp.authenticate(&headers, &form) {
        Ok(c) => c.clone(),
        Err(r) => return *r,
    };
    let token = form.get("token").cloned().unwrap_or_default();
    let mut books = idp.books();
    if let Some((grant_id, _)) = books.refresh.get(&digest(&token)).cloned() {
        if let Some(g) = books
            .grants
            .get_mut(&grant_id)
            .filter(|g| g.client_id == client.id)
        {
            g.revoked = true;
        }
    } else {
        drop(books);
        if let Some(claims) = idp.check_access_token(&token) {
            if claims["client_id"].as_str() == Some(client.id) {
                if let Some(jti) = claims["jti"].as_str() {
                    idp.books().revoked_access.insert(jti.to_string());
                }
            }
        }
    }
    // RFC 7009 §2.2: 200 whether or not the token was valid.
    StatusCode::OK.into_response()
}

async fn introspect(
    State(idp): State<Arc<DevIdp>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    match idp.authenticate(&headers, &form) {
        Ok(c) if c.secret.is_some() => {}
        Ok(_) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "introspection needs a confidential client",
            )
        }
        Err(r) => return *r,
    }
    let token = form.get("token").cloned().unwrap_or_default();
    match idp.check_access_token(&token) {
        Some(mut claims) => {
            claims["active"] = json!(true);
            claims["token_type"] = json!("Bearer");
            Json(claims).into_response()
        }
        None => Json(json!({ "active": false })).into_response(),
    }
}
