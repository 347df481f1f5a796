//! The provisioning API, compatible with the client library's `api` password strategy and the
//! guide's backend example: `POST /api/sip/provision` (a `{"userInfo": ...}` body is accepted and
//! ignored for identity) and `GET` provision the caller; `DELETE` deprovisions them (204). The
//! caller is a [`Caller`] (bearer authentication); the area's routes sit behind the edge's guard
//! (allowlist, per-IP limit, client address).

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::get;
use axum::{Extension, Json, Router};

use crate::auth::Caller;
use crate::edge::{self, ClientIp, MAX_BODY};
use crate::error::ApiError;
use crate::state::AppState;

/// The area's routes.
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/api/sip/provision",
            get(provision).post(provision_with_body).delete(deprovision),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), edge::guard))
}

fn ip_text(ip: &Option<Extension<ClientIp>>) -> Option<String> {
    ClientIp::text(ip.as_ref())
}

/// Provision the caller.
#[utoipa::path(
    get,
    path = "/api/sip/provision",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's SIP credentials", body = sipauth_wire::ProvisionResponse),
        (status = 401, description = "No token, a token that failed verification, or one issued before the provider signed the person out (`signed_out`)", body = sipauth_wire::ApiError),
        (status = 403, description = "The policy refuses this identity, or its account is disabled", body = sipauth_wire::ApiError),
        (status = 429, description = "Rate limited", body = sipauth_wire::ApiError),
        (status = 503, description = "The database or the provider is unavailable", body = sipauth_wire::ApiError),
    )
)]
pub(crate) async fn provision(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    Caller(identity): Caller,
) -> Result<Json<sipauth_wire::ProvisionResponse>, ApiError> {
    let provisioner = state.provisioner.clone();
    let ip = ip_text(&ip);
    // Its own task: a client hanging up (or the request timeout) must not cut a database
    // transaction in half; the provision finishes, audited, whoever is still listening.
    let result = tokio::spawn(async move { provisioner.provision(&identity, ip.as_deref()).await })
        .await
        .map_err(|e| ApiError::Internal(format!("the provision task failed: {e}")))?;
    state
        .metrics
        .provision(result.as_ref().map_or_else(|e| e.code().as_str(), |_| "ok"));
    Ok(Json(result?.to_wire()))
}

/// Provision the caller; the body, if any, must be the guide's `{"userInfo": ...}`. It is read
/// (bounded) and checked for form, never used for identity.
#[utoipa::path(
    post,
    path = "/api/sip/provision",
    security(("bearer" = [])),
    request_body(content = Option<sipauth_wire::ProvisionRequest>, description = "Ignored for identity"),
    responses(
        (status = 200, description = "The caller's SIP credentials", body = sipauth_wire::ProvisionResponse),
        (status = 400, description = "The body is not a provisioning request", body = sipauth_wire::ApiError),
        (status = 401, description = "No token, a token that failed verification, or one issued before the provider signed the person out (`signed_out`)", body = sipauth_wire::ApiError),
        (status = 403, description = "The policy refuses this identity, or its account is disabled", body = sipauth_wire::ApiError),
        (status = 413, description = "The body is too large", body = sipauth_wire::ApiError),
        (status = 429, description = "Rate limited", body = sipauth_wire::ApiError),
        (status = 503, description = "The database or the provider is unavailable", body = sipauth_wire::ApiError),
    )
)]
pub(crate) async fn provision_with_body(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    caller: Caller,
    body: Body,
) -> Result<Json<sipauth_wire::ProvisionResponse>, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::TooLarge)?;
    // No body, `null` or the guide's request: the wire crate's one rule.
    sipauth_wire::ProvisionRequest::from_body(&bytes).map_err(|e| {
        ApiError::BadRequest(format!("the body is not a provisioning request: {e}"))
    })?;
    provision(State(state), ip, caller).await
}

/// Deprovision the caller: the password stops working at the SIP server at once.
#[utoipa::path(
    delete,
    path = "/api/sip/provision",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deprovisioned (or there was nothing to deprovision)"),
        (status = 401, description = "No token, a token that failed verification, or one issued before the provider signed the person out (`signed_out`)", body = sipauth_wire::ApiError),
        (status = 503, description = "The database or the provider is unavailable", body = sipauth_wire::ApiError),
    )
)]
pub(crate) async fn deprovision(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    Caller(identity): Caller,
) -> Result<StatusCode, ApiError> {
    let provisioner = state.provisioner.clone();
    let ip = ip_text(&ip);
    tokio::spawn(async move { provisioner.deprovision(&identity, ip.as_deref()).await })
        .await
        .map_err(|e| ApiError::Internal(format!("the deprovision task failed: {e}")))??;
    Ok(StatusCode::NO_CONTENT)
}
