//! # sipauth-server: the provisioning service
//!
//! [`app`] turns an [`AppState`] into an axum `Router`: the provisioning API
//! (`POST`/`GET`/`DELETE /api/sip/provision` with `Authorization: Bearer <token>`) and health
//! (`/healthz`, `/readyz`). Identity comes only from the verified token ([`auth`], through the
//! client library's one verification path); what happens to the account is
//! [`sipauth_provision`]'s; every error is one JSON body with a stable code ([`error`]). The same
//! router runs in-process in tests and as `sipauth serve`.

pub mod api;
pub mod auth;
pub mod error;

pub use auth::{IssuerConfig, OutboundBudget, TokenCheck};
pub use error::ApiError;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

/// Everything a request needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Accounts, passwords, the SIP server.
    pub provisioner: Arc<sipauth_provision::Provisioner>,
    /// How bearer tokens are verified.
    pub tokens: Arc<TokenCheck>,
}

/// The largest request body accepted (the `{"userInfo": ...}` body is informational).
pub const MAX_BODY: usize = 64 * 1024;

/// The service's router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/sip/provision",
            get(api::provision)
                .post(api::provision_with_body)
                .delete(api::deprovision),
        )
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .with_state(state)
}
