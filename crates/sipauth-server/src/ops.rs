//! Operating the service: `/healthz` says the process runs; `/readyz` that the database and the
//! providers answer; `/metrics` is Prometheus text; `/openapi.json` the API's document; and the
//! answers for unknown routes and methods.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::error::ApiError;
use crate::state::AppState;

/// The area's routes: `/metrics` and `/readyz` behind their own allowlist.
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let guarded = Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::edge::ops_guard,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(crate::openapi::document))
        .merge(guarded)
}

/// The process runs.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive")))]
pub(crate) async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The database answers and every issuer's keys can be had.
#[utoipa::path(
    get,
    path = "/readyz",
    responses(
        (status = 200, description = "Ready"),
        (status = 503, description = "The database or a provider is unavailable", body = sipauth_wire::ApiError),
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    if !state.provisioner.database().is_ready().await {
        return Err(ApiError::Unavailable("the database does not answer".into()));
    }
    for issuer in &state.tokens.issuers {
        if let Some(jwks) = issuer.verifier.jwks() {
            if let Err(e) = jwks.ensure_loaded().await {
                return Err(ApiError::Unavailable(format!(
                    "the keys of {} cannot be fetched: {e}",
                    issuer.verifier.issuer().as_str()
                )));
            }
        }
    }
    Ok(Json(serde_json::json!({ "status": "ready" })))
}

/// The content type `/metrics` answers, and its document declares.
const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "OpenMetrics text", content_type = METRICS_CONTENT_TYPE)))]
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        state
            .metrics
            .render(&state.tokens, &state.provisioner)
            .await,
    )
}

/// Anything else.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// A known path with a method it does not take.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
