//! The edge every request passes: header limits, the request timeout and metrics for all
//! ([`track`]; metrics labels from closed sets); who may call from where, per-IP limits and the client address for the areas
//! that take them ([`guard`]).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// The largest request body accepted (the `{"userInfo": ...}` body is informational).
pub const MAX_BODY: usize = 64 * 1024;
/// The most header bytes (names and values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The most headers a request may carry.
pub const MAX_HEADERS: usize = 64;

/// The client's address as the network policy decided it; in every guarded request's
/// extensions.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// The address as the audit log writes it, from a request's extension (absent outside the
    /// guarded areas).
    pub(crate) fn text(ip: Option<&axum::Extension<ClientIp>>) -> Option<String> {
        ip.and_then(|axum::Extension(ClientIp(ip))| ip.map(|ip| ip.to_string()))
    }
}

/// The method as a metrics label, from a closed set: the methods the service routes, else
/// `other` (anyone can send a made-up method, and each label is kept for ever).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Every request: header limits, the timeout, metrics.
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = sipauth::monotonic_now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let method = method_label(request.method());
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    let response = if header_bytes > MAX_HEADER_BYTES || request.headers().len() > MAX_HEADERS {
        ApiError::HeadersTooLarge.into_response()
    } else {
        match tokio::time::timeout(state.request_timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => ApiError::Timeout.into_response(),
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    state.metrics.request(&route, method, status, seconds);
    // The route template, never the query or a header: nothing secret reaches the log.
    tracing::debug!(target: "sipauth::access", %method, %route, status, ms = seconds * 1e3, "request");
    response
}

/// The client's address: the peer the accept loop saw, or what trusted proxies say.
fn client_ip(state: &AppState, request: &Request) -> Option<IpAddr> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    state.network.client_ip(peer, request.headers())
}

/// The operational endpoints (`/metrics`, `/readyz`): only from `ops_allowed_networks` (or the
/// API's allowlist when that is not set).
pub(crate) async fn ops_guard(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let ip = client_ip(&state, &request);
    if !state.network.allows_ops(ip) {
        return ApiError::Forbidden("operational endpoints are not open to this network".into())
            .into_response();
    }
    next.run(request).await
}

/// API requests: who is calling from where, and may they.
pub(crate) async fn guard(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let ip = client_ip(&state, &request);
    if !state.network.allows(ip) {
        return ApiError::Forbidden("requests from this network are not allowed".into())
            .into_response();
    }
    if let Err(e) = state.limits.check_ip(ip) {
        return e.into_response();
    }
    request.extensions_mut().insert(ClientIp(ip));
    next.run(request).await
}
