//! The web sign-in page: staff sign in with a configured provider and pick up their SIP
//! settings, the backend-for-frontend pattern (tokens stay on the server; the browser holds only
//! a random session id). The Authorization Code + PKCE flow is the client library's
//! ([`sipauth::OidcClient`], confidential client, state, nonce, verified ID token); the account
//! is the provisioner's, under the same policy as the API.
//!
//! Cookies: `sipauth_flow` binds a started sign-in to the browser that started it (a callback
//! without it is refused: login CSRF), `sipauth_session` is the session id. Both HttpOnly,
//! SameSite=Lax, Secure with the `__Host-` prefix except on plain-HTTP loopback. Flows (with
//! the sign-in's PKCE verifier and nonce) and sessions are sealed records in the database every
//! instance shares ([`store`]): a sign-in started at one instance finishes at another, and a
//! restart signs nobody out. Signing out deletes the record, so a copied cookie stops working.
//! Every state-changing form carries the session's CSRF token. Pages are [`pages`]', served with a strict content security policy
//! (`hardened`). The routes sit behind the API's guard (allowlist, per-IP limit).

mod pages;
mod store;

use std::sync::Arc;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use serde::{Deserialize, Serialize};
use sipauth::{
    AuthorizationOptions, OidcClient, PendingSignIn, ProvisionedCredentials, SealedIdentity,
    SealingKey, TokenSet,
};
use sipauth_provision::DeviceRequest;
use sipauth_wire::ErrorCode;
use subtle::ConstantTimeEq;

use crate::edge::ClientIp;
use crate::AppState;
pub(crate) use store::digest;
use store::{Record, Sealed, Tags};

/// How long a session lasts (seconds).
pub const SESSION_TTL: i64 = 8 * 3600;
/// How long a started sign-in may take (seconds).
const FLOW_TTL: i64 = 600;
/// The most live sessions kept (by all instances).
const MAX_SESSIONS: i64 = 50_000;
/// The most live started sign-ins kept (by all instances): unauthenticated work, bounded like
/// the library's own pending sign-ins.
const MAX_FLOWS: i64 = sipauth::DEFAULT_MAX_PENDING_SIGN_INS as i64;

/// The browser's cookies: its session, and the binding of the sign-in it started.
#[derive(Debug, Clone, Copy)]
enum Cookie {
    Session,
    Flow,
}

/// A provider on the sign-in page.
#[derive(Debug)]
pub struct WebProvider {
    /// The button's name ("Sign in with <name>").
    pub name: String,
    /// The confidential client, redirecting to `<base>/auth/callback`.
    pub client: OidcClient,
}

/// A started sign-in: which provider, the browser's binding, and what its callback needs
/// (state, PKCE verifier, nonce).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Flow {
    provider: usize,
    binding: String,
    pending: PendingSignIn,
}

impl Record for Flow {
    fn encode(&self, _: &SealingKey) -> Option<Vec<u8>> {
        serde_json::to_vec(self).ok()
    }

    fn decode(bytes: &[u8], _: &SealingKey) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

/// One signed-in browser.
#[derive(Debug, Clone)]
struct WebSession {
    provider: usize,
    credentials: ProvisionedCredentials,
    tokens: TokenSet,
    identity: sipauth::VerifiedIdentity,
    csrf: String,
}

/// A session as stored: its identity sealed (opened only under the key that sealed it).
#[derive(Serialize, Deserialize)]
struct StoredSession {
    provider: usize,
    credentials: ProvisionedCredentials,
    tokens: TokenSet,
    identity: SealedIdentity,
    csrf: String,
}

impl Record for WebSession {
    fn encode(&self, key: &SealingKey) -> Option<Vec<u8>> {
        serde_json::to_vec(&StoredSession {
            provider: self.provider,
            credentials: self.credentials.clone(),
            tokens: self.tokens.clone(),
            identity: self.identity.seal(key).ok()?,
            csrf: self.csrf.clone(),
        })
        .ok()
    }

    fn decode(bytes: &[u8], key: &SealingKey) -> Option<Self> {
        let s: StoredSession = serde_json::from_slice(bytes).ok()?;
        Some(Self {
            provider: s.provider,
            credentials: s.credentials,
            tokens: s.tokens,
            identity: s.identity.open(key)?,
            csrf: s.csrf,
        })
    }

    fn tags(&self) -> Tags {
        let issuer = self.identity.issuer().to_string();
        Tags {
            person: Some((issuer.clone(), self.identity.subject().to_string())),
            sid: self
                .identity
                .string("sid")
                .map(|sid| (issuer, sid.to_string())),
        }
    }
}

/// The page's cookies: `Secure`, with the `__Host-` prefix, unless on plain-HTTP loopback.
#[derive(Debug, Clone, Copy)]
struct Cookies {
    secure: bool,
}

impl Cookies {
    /// A cookie's name: with the `__Host-` prefix when `Secure` (the browser then refuses it
    /// from a sibling domain, from plain HTTP, and with a `Domain` or a narrower path).
    fn name(&self, which: Cookie) -> &'static str {
        match (which, self.secure) {
            (Cookie::Session, true) => "__Host-sipauth_session",
            (Cookie::Session, false) => "sipauth_session",
            (Cookie::Flow, true) => "__Host-sipauth_flow",
            (Cookie::Flow, false) => "sipauth_flow",
        }
    }

    /// `Set-Cookie` for `which` (an empty value with `max_age` 0 clears it).
    fn set(&self, which: Cookie, value: &str, max_age: i64) -> HeaderValue {
        let name = self.name(which);
        // `__Host-` needs `Path=/`; on plain-HTTP loopback the flow cookie stays on /auth.
        let path = match (which, self.secure) {
            (Cookie::Flow, false) => "/auth",
            _ => "/",
        };
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// The sign-in page's settings and records.
#[derive(Debug)]
pub struct Web {
    providers: Vec<WebProvider>,
    cookies: Cookies,
    dev_banner: bool,
    flows: Sealed<Flow>,
    sessions: Sealed<WebSession>,
}

impl Web {
    /// The page for `providers`, its records in `records` sealed under `key` (every instance
    /// sharing them needs the same); cookies are `Secure` unless the service listens on
    /// loopback only; `dev_banner` labels every page as the development setup.
    pub fn new(
        providers: Vec<WebProvider>,
        records: sipauth_provision::SharedRecords,
        key: SealingKey,
        secure_cookies: bool,
        dev_banner: bool,
    ) -> Self {
        let key = Arc::new(key);
        Self {
            providers,
            cookies: Cookies {
                secure: secure_cookies,
            },
            dev_banner,
            flows: Sealed::new(records.clone(), key.clone(), "flow", FLOW_TTL, MAX_FLOWS),
            sessions: Sealed::new(records, key, "session", SESSION_TTL, MAX_SESSIONS),
        }
    }

    /// Ends every session of (issuer, subject): the provider ended that person's access.
    /// How many ended.
    pub(crate) async fn end_sessions(&self, issuer: &str, subject: &str) -> usize {
        self.end_sessions_of(issuer, Some(subject), None)
            .await
            .len()
    }

    /// Ends the sessions of `issuer` for `subject` or the provider session `sid` (an ID
    /// token's `sid` claim): the subjects whose sessions ended.
    pub(crate) async fn end_sessions_of(
        &self,
        issuer: &str,
        subject: Option<&str>,
        sid: Option<&str>,
    ) -> Vec<String> {
        match self.sessions.remove_tagged(issuer, subject, sid).await {
            Ok(ended) => ended
                .into_iter()
                .map(|s| s.identity.subject().to_string())
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "ending a person's web sessions failed");
                Vec::new()
            }
        }
    }

    /// The browser's session, if it has a live one.
    async fn session(
        &self,
        headers: &HeaderMap,
        now: i64,
    ) -> Result<Option<(String, WebSession)>, Response> {
        let Some(id) = cookie(headers, self.cookies.name(Cookie::Session)) else {
            return Ok(None);
        };
        match self.sessions.get(&id, now).await {
            Ok(found) => Ok(found.map(|s| (id, s))),
            Err(e) => Err(self.unavailable(e)),
        }
    }

    /// The page for a store that failed.
    fn unavailable(&self, e: store::StoreError) -> Response {
        tracing::warn!(error = %e, "the web page's store failed");
        pages::error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::TemporarilyUnavailable.as_str(),
            self.dev_banner,
        )
    }
}

/// The value of cookie `name`.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// 32 random bytes, URL-safe; `None` when the system's randomness fails (the caller answers
/// an error: never an empty session id, binding or CSRF token).
fn random() -> Option<String> {
    sipauth::random_urlsafe(32).ok().filter(|r| !r.is_empty())
}

fn equal(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The routes of the page, behind the edge's guard like the API: the allowlist and the per-IP
/// limit hold for starting a sign-in as for provisioning.
/// The sign-in page's own address; also `/` unless a single-page app is served there
/// (`static_dir`).
pub(crate) const HOME: &str = "/auth/";

/// Where a browser without a session is sent: `/`, or [`HOME`] when `/` is the app's.
fn home_path(state: &AppState) -> &'static str {
    if state.static_dir.is_some() {
        HOME
    } else {
        "/"
    }
}

pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let router = Router::new();
    let router = if state.static_dir.is_some() {
        router
    } else {
        router.route("/", get(home))
    };
    router
        .route(HOME, get(home))
        .route("/auth/login/{provider}", get(login))
        .route("/auth/callback", get(callback))
        .route("/account", get(account))
        .route("/account/{file}", get(download))
        .route("/auth/logout", post(logout))
        .route("/account/check", post(check_registration))
        .route("/account/devices", post(add_device))
        .route("/account/devices/{id}/revoke", post(revoke_device))
        .route_layer(axum::middleware::map_response(hardened))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::edge::guard,
        ))
}

/// Every page's headers: the content security policy (no framing: `frame-ancestors 'none'`,
/// and `X-Frame-Options` for older browsers), no type sniffing, no referrer to providers.
async fn hardened(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if let Ok(policy) = HeaderValue::from_str(&pages::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn web(state: &AppState) -> Option<&Arc<Web>> {
    state.web.as_ref()
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(web) = web(&state) else {
        return crate::ApiError::NotFound.into_response();
    };
    match web.session(&headers, state.now()).await {
        Ok(Some(_)) => return Redirect::to("/account").into_response(),
        Ok(None) => {}
        Err(page) => return page,
    }
    let names: Vec<&str> = web.providers.iter().map(|p| p.name.as_str()).collect();
    pages::home(&names, web.dev_banner)
}

async fn login(State(state): State<AppState>, Path(index): Path<usize>) -> Response {
    let Some(web) = web(&state) else {
        return crate::ApiError::NotFound.into_response();
    };
    let Some(provider) = web.providers.get(index) else {
        return pages::error(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownProvider.as_str(),
            web.dev_banner,
        );
    };
    let (request, pending) = match provider
        .client
        .start_sign_in(&AuthorizationOptions::default())
    {
        Ok(started) => started,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a web sign-in");
            return pages::error(StatusCode::SERVICE_UNAVAILABLE, e.code(), web.dev_banner);
        }
    };
    let Some(binding) = random() else {
        return pages::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ServerError.as_str(),
            web.dev_banner,
        );
    };
    let flow = Flow {
        provider: index,
        binding: binding.clone(),
        pending,
    };
    if let Err(e) = web
        .flows
        .put(request.state.secret(), &flow, state.now())
        .await
    {
        return web.unavailable(e);
    }
    let mut response = Redirect::to(request.url.as_str()).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        web.cookies.set(Cookie::Flow, &binding, FLOW_TTL),
    );
    response
}

/// The callback's parameters that decide the page shown before the library takes over.
#[derive(Debug, Deserialize)]
struct CallbackQuery {
    state: Option<String>,
    error: Option<String>,
}

async fn callback(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Some(web) = web(&state).cloned() else {
        return crate::ApiError::NotFound.into_response();
    };
    let banner = web.dev_banner;
    // The sign-in this browser started, or nothing (an unknown, reused or tampered state).
    // A callback without the browser's binding cookie leaves the flow alone: nobody else can
    // spend a sign-in this browser started.
    let mut flow = None;
    if let Some(s) = q.state.as_deref() {
        let found = match web.flows.get(s, state.now()).await {
            Ok(found) => found,
            Err(e) => return web.unavailable(e),
        };
        if let Some(found) = found {
            if cookie(&headers, web.cookies.name(Cookie::Flow))
                .is_some_and(|c| equal(&c, &found.binding))
            {
                // Taken once: of two callbacks racing with this state, one goes on.
                flow = match web.flows.take(s, state.now()).await {
                    Ok(taken) => taken,
                    Err(e) => return web.unavailable(e),
                };
            }
        }
    }
    let Some(flow) = flow else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidState.as_str(),
            banner,
        );
    };
    let Some(provider) = web.providers.get(flow.provider) else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidState.as_str(),
            banner,
        );
    };
    let clear_flow = web.cookies.set(Cookie::Flow, "", 0);
    let with_cleared = |mut r: Response| {
        r.headers_mut()
            .append(header::SET_COOKIE, clear_flow.clone());
        r
    };
    if let Some(error) = q.error.as_deref() {
        let code = if error == ErrorCode::AccessDenied.as_str() {
            ErrorCode::AccessDenied
        } else {
            ErrorCode::AuthorizationFailed
        };
        return with_cleared(pages::error(StatusCode::BAD_REQUEST, code.as_str(), banner));
    }
    let callback_url = format!(
        "{}?{}",
        provider.client.provider().redirect_uri,
        raw.unwrap_or_default()
    );
    let sign_in = match provider
        .client
        .finish_sign_in(&callback_url, flow.pending)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(error = %e, code = e.code(), "web sign-in failed");
            return with_cleared(pages::error(StatusCode::BAD_REQUEST, e.code(), banner));
        }
    };
    // Who signed in, as verification proved it: the same identity the API would take from a
    // token, under the same policy, with the same answer for the same failure.
    let Some(identity) = sign_in.identity().cloned() else {
        tracing::warn!("the provider gave no verifiable identity (no ID token, no issuer)");
        return with_cleared(pages::error(
            StatusCode::BAD_REQUEST,
            ErrorCode::MissingIdToken.as_str(),
            banner,
        ));
    };
    if let Err(e) = state
        .limits
        .check_identity(identity.issuer(), identity.subject())
    {
        return with_cleared(pages::error(e.status(), e.code().as_str(), banner));
    }
    let provisioner = state.provisioner.clone();
    let who = identity.clone();
    let client_ip = ClientIp::text(ip.as_ref());
    // With credentials per device, the page's own are those of the device "Web sign-in page".
    let device = provisioner.per_device().then(|| DeviceRequest {
        name: WEB_PAGE_DEVICE.into(),
        user_agent: user_agent(&headers),
    });
    let provisioned = match crate::api::detached("provision", async move {
        provisioner
            .provision_device(&who, client_ip.as_deref(), device.as_ref())
            .await
    })
    .await
    {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            let answer = crate::ApiError::from(e);
            let (status, code) = (answer.status(), answer.code());
            return with_cleared(pages::error(status, code.as_str(), banner));
        }
        Err(_) => {
            return with_cleared(pages::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::ServerError.as_str(),
                banner,
            ))
        }
    };
    let Some(credentials) = ProvisionedCredentials::from_provisioning(
        &provisioned.to_wire(),
        sign_in.user_info.clone(),
    ) else {
        return with_cleared(pages::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ServerError.as_str(),
            banner,
        ));
    };
    let (Some(id), Some(csrf)) = (random(), random()) else {
        return with_cleared(pages::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ServerError.as_str(),
            banner,
        ));
    };
    let session = WebSession {
        provider: flow.provider,
        credentials,
        tokens: sign_in.tokens,
        identity,
        csrf,
    };
    if let Err(e) = web.sessions.put(&id, &session, state.now()).await {
        return with_cleared(web.unavailable(e));
    }
    let mut response = with_cleared(Redirect::to("/account").into_response());
    response.headers_mut().append(
        header::SET_COOKIE,
        web.cookies.set(Cookie::Session, &id, SESSION_TTL),
    );
    response
}

/// The device the web page's own credentials belong to, with credentials per device.
const WEB_PAGE_DEVICE: &str = "Web sign-in page";

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn account(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(web) = web(&state) else {
        return crate::ApiError::NotFound.into_response();
    };
    match web.session(&headers, state.now()).await {
        Err(page) => page,
        Ok(Some((_, s))) => {
            let devices = match state.provisioner.per_device() {
                true => match state
                    .provisioner
                    .devices(s.identity.issuer(), s.identity.subject())
                    .await
                {
                    Ok(list) => Some(list),
                    Err(e) => {
                        let answer = crate::ApiError::from(e);
                        return pages::error(
                            answer.status(),
                            answer.code().as_str(),
                            web.dev_banner,
                        );
                    }
                },
                false => None,
            };
            pages::account(
                &s.credentials,
                s.tokens.expires_at,
                &web.providers[s.provider.min(web.providers.len().saturating_sub(1))].name,
                &s.csrf,
                devices.as_deref(),
                web.dev_banner,
            )
        }
        Ok(None) => Redirect::to(home_path(&state)).into_response(),
    }
}

/// "Add a device": its name and the form's CSRF token.
#[derive(Debug, Deserialize)]
struct AddDeviceForm {
    csrf: String,
    name: String,
}

/// "Add a device" (credentials per device): the named device's own credentials, shown once
/// on a page of their own (the same name shows the same again).
async fn add_device(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    Form(form): Form<AddDeviceForm>,
) -> Response {
    let (web, _, session) = match posted_session(&state, &headers, &form.csrf).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if !state.provisioner.per_device() {
        return pages::error(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound.as_str(),
            web.dev_banner,
        );
    }
    let provisioner = state.provisioner.clone();
    let who = session.identity.clone();
    let client_ip = ClientIp::text(ip.as_ref());
    let device = DeviceRequest {
        name: form.name.clone(),
        user_agent: None,
    };
    let result = crate::api::detached("provision", async move {
        provisioner
            .provision_device(&who, client_ip.as_deref(), Some(&device))
            .await
    })
    .await;
    let failed =
        |code: ErrorCode, status: StatusCode| pages::error(status, code.as_str(), web.dev_banner);
    match result {
        Ok(Ok(provisioned)) => match ProvisionedCredentials::from_provisioning(
            &provisioned.to_wire(),
            session.credentials.user_info.clone(),
        ) {
            Some(c) => pages::device_added(&c, form.name.trim(), web.dev_banner),
            None => failed(ErrorCode::ServerError, StatusCode::INTERNAL_SERVER_ERROR),
        },
        Ok(Err(e)) => {
            let answer = crate::ApiError::from(e);
            failed(answer.code(), answer.status())
        }
        Err(_) => failed(ErrorCode::ServerError, StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// "Revoke" on a device of the account page: its password stops working; back to the page.
async fn revoke_device(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (web, _, session) = match posted_session(&state, &headers, &form.csrf).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let provisioner = state.provisioner.clone();
    let who = session.identity.clone();
    let client_ip = ClientIp::text(ip.as_ref());
    let result = crate::api::detached("revoke", async move {
        provisioner
            .revoke_device(who.issuer(), who.subject(), &id, client_ip.as_deref())
            .await
    })
    .await;
    match result {
        Ok(Ok(true)) => Redirect::to("/account").into_response(),
        Ok(Ok(false)) => pages::error(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound.as_str(),
            web.dev_banner,
        ),
        Ok(Err(e)) => {
            let answer = crate::ApiError::from(e);
            pages::error(answer.status(), answer.code().as_str(), web.dev_banner)
        }
        Err(_) => pages::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ServerError.as_str(),
            web.dev_banner,
        ),
    }
}

async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Response {
    let Some(web) = web(&state) else {
        return crate::ApiError::NotFound.into_response();
    };
    let (_, s) = match web.session(&headers, state.now()).await {
        Ok(Some(found)) => found,
        Ok(None) => return Redirect::to(home_path(&state)).into_response(),
        Err(page) => return page,
    };
    let c = &s.credentials;
    let pretty = |v: serde_json::Value| serde_json::to_string_pretty(&v).unwrap_or_default();
    let (body, content_type) = match file.as_str() {
        "jssip.json" => (
            pretty(sipauth::sip::client_config::jssip_config(c)),
            "application/json",
        ),
        "sipjs.json" => (
            pretty(sipauth::sip::client_config::sipjs_config(c)),
            "application/json",
        ),
        "baresip.conf" => (
            format!("{}\n", sipauth::sip::client_config::baresip_account(c)),
            "text/plain; charset=utf-8",
        ),
        "linphonerc" if c.sip_server.is_some() => (
            sipauth::sip::client_config::linphonerc(c).unwrap_or_default(),
            "text/plain; charset=utf-8",
        ),
        _ => {
            return pages::error(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound.as_str(),
                web.dev_banner,
            )
        }
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// The page, the session id and the session a signed-in form was posted from, its CSRF token
/// checked; otherwise the answer: 404 without the page, the sign-in page without a session,
/// 403 `invalid_csrf` for a wrong token.
async fn posted_session(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<(Arc<Web>, String, WebSession), Response> {
    let Some(web) = web(state).cloned() else {
        return Err(crate::ApiError::NotFound.into_response());
    };
    let (id, session) = match web.session(headers, state.now()).await {
        Ok(Some(found)) => found,
        Ok(None) => return Err(Redirect::to(home_path(state)).into_response()),
        Err(page) => return Err(page),
    };
    if !equal(csrf, &session.csrf) {
        return Err(pages::error(
            StatusCode::FORBIDDEN,
            ErrorCode::InvalidCsrf.as_str(),
            web.dev_banner,
        ));
    }
    Ok((web, id, session))
}

/// A form that carries only its CSRF token.
#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: String,
}

/// How long the page's registration check may take.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// "Check registration": the service registers the session's credentials at their WebSocket
/// server (the `register-check` probe: REGISTER, one digest round, unregister) and says what
/// happened: registered, refused, or that no SIP server answers there.
async fn check_registration(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (web, _, session) = match posted_session(&state, &headers, &form.csrf).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let c = &session.credentials;
    let outcome = match url::Url::parse(&c.ws_server_uri) {
        Ok(uri) => {
            let target = sipauth_register::Target::WebSocket(uri);
            let credentials = sipauth_register::Credentials::of(c);
            let options = sipauth_register::CheckOptions {
                timeout: CHECK_TIMEOUT,
                ..sipauth_register::CheckOptions::default()
            };
            sipauth_register::check(&target, &credentials, &options, &mut |_| {}).await
        }
        Err(e) => Err(sipauth_register::CheckError::Config(e.to_string())),
    };
    pages::registration_check(&outcome, &c.ws_server_uri, web.dev_banner)
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
struct LogoutForm {
    csrf: String,
    remove_account: Option<String>,
}

async fn logout(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let (web, id, session) = match posted_session(&state, &headers, &form.csrf).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if let Err(e) = web.sessions.remove(&id).await {
        return web.unavailable(e);
    }
    if let Some(provider) = web.providers.get(session.provider) {
        let report = provider.client.revoke_tokens(&session.tokens).await;
        if report.any_failed() {
            tracing::info!("the provider did not revoke the web session's tokens");
        }
    }
    if form.remove_account.is_some() {
        let provisioner = state.provisioner.clone();
        let who = session.identity.clone();
        let client_ip = ClientIp::text(ip.as_ref());
        let _ = crate::api::detached("deprovision", async move {
            provisioner.deprovision(&who, client_ip.as_deref()).await
        })
        .await;
    }
    let mut response = Redirect::to(home_path(&state)).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, web.cookies.set(Cookie::Session, "", 0));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_cookies_carry_the_host_prefix_and_the_root_path() {
        let secure = Cookies { secure: true };
        for which in [Cookie::Session, Cookie::Flow] {
            let c = secure.set(which, "v", 60);
            let c = c.to_str().unwrap_or_default();
            assert!(c.starts_with("__Host-sipauth_"), "{c}");
            assert!(c.contains("; Path=/;") && c.ends_with("; Secure"), "{c}");
            assert!(!c.contains("Domain"), "{c}");
        }
        let loopback = Cookies { secure: false };
        let c = loopback.set(Cookie::Flow, "v", 60);
        assert_eq!(
            c.to_str().unwrap_or_default(),
            "sipauth_flow=v; Path=/auth; Max-Age=60; HttpOnly; SameSite=Lax"
        );
    }
}
