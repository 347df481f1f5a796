//! The provisioning API, compatible with the client library's `api` password strategy and the
//! guide's backend example: `POST /api/sip/provision` (a `{"userInfo": ...}` body is accepted and
//! ignored for identity; `"device": {"name": ...}` names the device, with credentials per
//! device) and `GET` provision the caller; `DELETE` deprovisions them (204). With credentials
//! per device, `GET /api/sip/devices` lists the caller's devices and `DELETE
//! /api/sip/devices/{id}` revokes one (204). The caller is a [`Caller`] (bearer
//! authentication); the area's routes sit behind the edge's guard (allowlist, per-IP limit,
//! client address).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware;
use axum::routing::{delete, get};
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
        .route("/api/sip/devices", get(list_devices))
        .route("/api/sip/devices/{id}", delete(revoke_device))
        .route_layer(middleware::from_fn_with_state(state.clone(), edge::guard))
}

fn ip_text(ip: &Option<Extension<ClientIp>>) -> Option<String> {
    ClientIp::text(ip.as_ref())
}

/// Runs a request's provisioning `work` in its own task: a client hanging up (or the request
/// timeout) must not cut a database transaction in half; the work finishes, audited, whoever
/// is still listening. Its outcome, or `500` when the task itself failed (`what` names it).
pub(crate) async fn detached<T: Send + 'static>(
    what: &'static str,
    work: impl std::future::Future<Output = Result<T, sipauth_provision::ProvisionError>>
        + Send
        + 'static,
) -> Result<Result<T, sipauth_provision::ProvisionError>, ApiError> {
    tokio::spawn(work)
        .await
        .map_err(|e| ApiError::Internal(format!("the {what} task failed: {e}")))
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
    headers: HeaderMap,
    caller: Caller,
) -> Result<Json<sipauth_wire::ProvisionResponse>, ApiError> {
    provision_for(state, ip, &headers, caller, None).await
}

/// The provision of `caller`, for the device `named` (with credentials per device; the
/// request's User-Agent recorded with it).
async fn provision_for(
    state: AppState,
    ip: Option<Extension<ClientIp>>,
    headers: &HeaderMap,
    Caller(identity): Caller,
    named: Option<String>,
) -> Result<Json<sipauth_wire::ProvisionResponse>, ApiError> {
    let provisioner = state.provisioner.clone();
    let ip = ip_text(&ip);
    let device = provisioner
        .per_device()
        .then(|| sipauth_provision::DeviceRequest {
            name: named.unwrap_or_else(|| sipauth_provision::UNNAMED_DEVICE.to_string()),
            user_agent: headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        });
    let result = detached("provision", async move {
        provisioner
            .provision_device(&identity, ip.as_deref(), device.as_ref())
            .await
    })
    .await?;
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
    headers: HeaderMap,
    caller: Caller,
    body: Body,
) -> Result<Json<sipauth_wire::ProvisionResponse>, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::TooLarge)?;
    // No body, `null` or the guide's request: the wire crate's one rule.
    let request = sipauth_wire::ProvisionRequest::from_body(&bytes).map_err(|e| {
        ApiError::BadRequest(format!("the body is not a provisioning request: {e}"))
    })?;
    let named = request.and_then(|r| r.device).map(|d| d.name);
    provision_for(state, ip, &headers, caller, named).await
}

/// The caller's devices (credentials per device), oldest first; none otherwise.
#[utoipa::path(
    get,
    path = "/api/sip/devices",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's devices", body = sipauth_wire::DeviceList),
        (status = 401, description = "No token, or a token that failed verification", body = sipauth_wire::ApiError),
        (status = 429, description = "Rate limited", body = sipauth_wire::ApiError),
        (status = 503, description = "The database or the provider is unavailable", body = sipauth_wire::ApiError),
    )
)]
pub(crate) async fn list_devices(
    State(state): State<AppState>,
    Caller(identity): Caller,
) -> Result<Json<sipauth_wire::DeviceList>, ApiError> {
    let devices = state
        .provisioner
        .devices(identity.issuer(), identity.subject())
        .await?;
    Ok(Json(sipauth_wire::DeviceList {
        devices: devices
            .into_iter()
            .map(|d| sipauth_wire::DeviceInfo {
                id: d.id,
                name: d.name,
                authorization_username: d.authorization_username,
                created_at: d.created_at,
                last_provisioned_at: d.last_provisioned_at,
                user_agent: d.user_agent,
            })
            .collect(),
    }))
}

/// Revoke one of the caller's devices: its password stops working at the SIP server at once;
/// their other devices keep working.
#[utoipa::path(
    delete,
    path = "/api/sip/devices/{id}",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The device's id, from GET /api/sip/devices")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No token, or a token that failed verification", body = sipauth_wire::ApiError),
        (status = 404, description = "The caller has no such device", body = sipauth_wire::ApiError),
        (status = 429, description = "Rate limited", body = sipauth_wire::ApiError),
        (status = 503, description = "The database or the provider is unavailable", body = sipauth_wire::ApiError),
    )
)]
pub(crate) async fn revoke_device(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let provisioner = state.provisioner.clone();
    let ip = ip_text(&ip);
    let revoked = detached("revoke", async move {
        provisioner
            .revoke_device(identity.issuer(), identity.subject(), &id, ip.as_deref())
            .await
    })
    .await??;
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
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
    detached("deprovision", async move {
        provisioner.deprovision(&identity, ip.as_deref()).await
    })
    .await??;
    Ok(StatusCode::NO_CONTENT)
}
