//! # sipauth-server: the provisioning service
//!
//! [`app`] turns an [`AppState`] into an axum `Router`: the provisioning API
//! (`POST`/`GET`/`DELETE /api/sip/provision` with `Authorization: Bearer <token>`), health
//! (`/healthz`, `/readyz`), Prometheus `/metrics` and the OpenAPI 3.1 document
//! `/openapi.json`. Identity comes only from the verified token ([`auth`], through the client
//! library's one verification path); who may call from where is [`network`] and [`limits`]; what
//! happens to the account is [`sipauth_provision`]'s; every error is one JSON body with a stable
//! code ([`error`]). The settings that build a state are [`config`]'s. The same router runs
//! in-process in tests and as `sipauth serve`.

pub mod api;
pub mod auth;
pub mod config;
pub mod dev_idp;
pub mod error;
pub mod html;
pub mod limits;
pub mod metrics;
pub mod network;
pub mod openapi;
pub mod serve;
pub mod web;

pub use auth::{IssuerConfig, OutboundBudget, TokenCheck};
pub use config::{ConfigError, ServiceConfig};
pub use error::ApiError;
pub use limits::{Rate, RateLimits};
pub use metrics::Metrics;
pub use network::NetworkPolicy;
pub use serve::serve;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Everything a request needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Accounts, passwords, the SIP server.
    pub provisioner: Arc<sipauth_provision::Provisioner>,
    /// How bearer tokens are verified.
    pub tokens: Arc<TokenCheck>,
    /// Where requests may come from.
    pub network: Arc<NetworkPolicy>,
    /// Rate limits.
    pub limits: Arc<RateLimits>,
    /// What `/metrics` reports.
    pub metrics: Arc<Metrics>,
    /// How long a request may take.
    pub request_timeout: Duration,
    /// The web sign-in page, when configured.
    pub web: Option<Arc<web::Web>>,
    /// The development identity provider (`--dev` only).
    pub dev_idp: Option<Arc<dev_idp::DevIdp>>,
    /// The service's clock.
    pub clock: sipauth::SharedClock,
}

impl AppState {
    /// A state with no network restrictions, no rate limits and a 15 s request timeout.
    pub fn new(provisioner: Arc<sipauth_provision::Provisioner>, tokens: Arc<TokenCheck>) -> Self {
        Self {
            provisioner,
            tokens,
            network: Arc::new(NetworkPolicy::default()),
            limits: Arc::new(RateLimits::default()),
            metrics: Arc::new(Metrics::new()),
            request_timeout: Duration::from_secs(15),
            web: None,
            dev_idp: None,
            clock: Arc::new(sipauth::SystemClock),
        }
    }

    /// With the web sign-in page.
    pub fn with_web(mut self, web: web::Web) -> Self {
        self.web = Some(Arc::new(web));
        self
    }

    /// With the development identity provider at `/dev-idp`.
    pub fn with_dev_idp(mut self, idp: Arc<dev_idp::DevIdp>) -> Self {
        self.dev_idp = Some(idp);
        self
    }

    /// With a clock.
    pub fn with_clock(mut self, clock: sipauth::SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Now, by the service's clock.
    pub fn now(&self) -> i64 {
        self.clock.now_unix()
    }

    /// With allowed networks and trusted proxies.
    pub fn with_network(mut self, network: NetworkPolicy) -> Self {
        self.network = Arc::new(network);
        self
    }

    /// With rate limits.
    pub fn with_limits(mut self, limits: RateLimits) -> Self {
        self.limits = Arc::new(limits);
        self
    }

    /// With a request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}

/// The largest request body accepted (the `{"userInfo": ...}` body is informational).
pub const MAX_BODY: usize = 64 * 1024;
/// The most header bytes (names and values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The most headers a request may carry.
pub const MAX_HEADERS: usize = 64;

/// The client's address as the network policy decided it; in every API request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

/// The service's router. Run it with [`serve()`] (client addresses for allowlists, per-IP
/// limits and audit; a header-read timeout; graceful shutdown).
pub fn app(state: AppState) -> Router {
    let provisioning = Router::new()
        .route(
            "/api/sip/provision",
            get(api::provision)
                .post(api::provision_with_body)
                .delete(api::deprovision),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), guard));
    let mut router = Router::new().merge(provisioning);
    if state.web.is_some() {
        router = router.merge(web::router());
    }
    if let Some(idp) = &state.dev_idp {
        router = router.nest("/dev-idp", idp.router());
    }
    router
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .route("/openapi.json", get(openapi::document))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// Every request: header limits, the timeout, metrics.
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let method = request.method().to_string();
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
    state.metrics.request(&route, &method, status, seconds);
    // The route template, never the query or a header: nothing secret reaches the log.
    tracing::debug!(target: "sipauth::access", %method, %route, status, ms = seconds * 1e3, "request");
    response
}

/// API requests: who is calling from where, and may they.
async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let ip = state.network.client_ip(peer, request.headers());
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
