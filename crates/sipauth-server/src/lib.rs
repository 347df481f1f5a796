//! # sipauth-server: the provisioning service
//!
//! [`app`] turns an [`AppState`] into an axum `Router` by merging the routes of each area:
//!
//! | area | routes | owns |
//! | --- | --- | --- |
//! | `api` | `POST`/`GET`/`DELETE /api/sip/provision` | provisioning the bearer-token caller |
//! | `web` | `/`, `/auth/*`, `/account*` | the sign-in page: flows, sessions, account page |
//! | `backchannel` | `POST /backchannel-logout` (the web page has a client) | the provider's word that a person logged out |
//! | `scim` | `/scim/v2/*` (an issuer with a SCIM secret) | the provider's directory: users and groups it pushes |
//! | `dev_idp` | `/dev-idp/*` (`--dev` only, feature `dev-idp`) | the development identity provider |
//! | `ops` | `/healthz`, `/readyz`, `/metrics`, `/openapi.json` | operating the service |
//! | `spa` | everything else (`static_dir` only) | a single-page app served beside the API |
//!
//! Beside the areas: `auth` (the token check through the client library's one verification
//! path, the opaque-answer cache, [`Caller`]: bearer authentication as an extractor), `edge`
//! (header limits, timeout and metrics for every request; allowlist, per-IP limit and client
//! address for the guarded areas), `network` and `limits` (who may call from where, how
//! often), `cors` (which other origins' pages may call the API), `metrics`, `openapi`, `error` (the one type deciding every error answer, with
//! codes from the one registry, `sipauth_wire::ErrorCode`), `state` ([`AppState`]), `config`
//! (the settings that build a state) and `serve` (the accept loop). What happens to the
//! account is [`sipauth_provision`]'s. A new area is a folder with a `routes()` merged in
//! [`app`]. The same router runs in-process in tests and as
//! `sipauth serve`.

mod api;
mod auth;
mod backchannel;
mod config;
mod cors;
#[cfg(feature = "dev-idp")]
mod dev_idp;
mod edge;
mod error;
mod html;
mod lifecycle;
mod limits;
mod metrics;
mod network;
mod openapi;
mod ops;
mod scim;
mod serve;
mod spa;
mod state;
mod web;

pub use auth::{Caller, IssuerConfig, OutboundBudget, TokenCheck};
pub use backchannel::{Backchannel, LOGOUT_TOKEN_MAX_AGE};
pub use config::{
    BackchannelLogout, BackendConfig, BackendKind, ConfigError, DevConfig, EphemeralAlgorithm,
    IssuerSettings, LimitsConfig, LogFormat, NetworkConfig, NumericUsernames, PolicyConfig,
    PolicyFailure, ServiceConfig, SipConfig, DEFAULT_WS_URI,
};
pub use cors::{Cors, PREFLIGHT_MAX_AGE};
#[cfg(feature = "dev-idp")]
pub use dev_idp::{DevIdp, DevUser};
pub use edge::{ClientIp, MAX_BODY, MAX_HEADERS, MAX_HEADER_BYTES};
pub use error::ApiError;
pub use lifecycle::access_ended;
pub use limits::{Rate, RateLimits};
pub use metrics::Metrics;
pub use network::NetworkPolicy;
pub use scim::{protocol as scim_protocol, Scim, MAX_SCIM_BODY};
pub use serve::{serve, HEADER_READ_TIMEOUT};
pub use state::{AppState, SharedState};
pub use web::{Web, WebProvider, SESSION_TTL};

use axum::middleware;
use axum::Router;

/// The service's router: each area's routes, merged. Run it with [`serve()`] (client addresses
/// for allowlists, per-IP limits and audit; a header-read timeout; graceful shutdown).
pub fn app(state: AppState) -> Router {
    let mut router = Router::new()
        .merge(api::routes(&state))
        .merge(ops::routes(&state));
    if state.backchannel.is_some() {
        router = router.merge(backchannel::routes(&state));
    }
    if state.scim.is_some() {
        router = router.merge(scim::routes(&state));
    }
    if state.web.is_some() {
        router = router.merge(web::routes(&state));
    }
    #[cfg(feature = "dev-idp")]
    if let Some(idp) = &state.dev_idp {
        router = router.nest("/dev-idp", idp.router());
    }
    let router = if state.static_dir.is_some() {
        router.fallback(spa::serve)
    } else {
        router.fallback(ops::not_found)
    };
    router
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), cors::api))
        .layer(middleware::from_fn_with_state(state.clone(), edge::track))
        .with_state(state)
}
