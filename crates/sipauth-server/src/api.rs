//! The provisioning API, compatible with the client library's `api` password strategy and the
//! guide's backend example: `POST /api/sip/provision` (a `{"userInfo": ...}` body is accepted and
//! ignored for identity) and `GET` provision the caller; `DELETE` deprovisions them (204).
//! `/healthz` says the process runs; `/readyz` that the database and the providers answer;
//! `/metrics` is Prometheus text. Each handler is a function of the state and the request.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use sipauth::VerifiedIdentity;

use crate::error::ApiError;
use crate::{AppState, ClientIp, MAX_BODY};

/// The caller, from `Authorization: Bearer <token>`, within the per-identity rate limit.
async fn caller(state: &AppState, headers: &HeaderMap) -> Result<VerifiedIdentity, ApiError> {
    let identity = verified(state, headers).await;
    if let Err(ApiError::InvalidToken(reason, _)) = &identity {
        state.metrics.verification_failure(reason);
    }
    let identity = identity?;
    state
        .limits
        .check_identity(identity.issuer(), identity.subject())?;
    Ok(identity)
}

async fn verified(state: &AppState, headers: &HeaderMap) -> Result<VerifiedIdentity, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?
        .to_str()
        .map_err(|_| {
            ApiError::InvalidToken("malformed", "the Authorization header is not text".into())
        })?;
    let token = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or(ApiError::MissingToken)?;
    state.tokens.verify(token).await
}

fn ip_text(ip: &Option<Extension<ClientIp>>) -> Option<String> {
    ip.as_ref()
        .and_then(|Extension(ClientIp(ip))| ip.map(|ip| ip.to_string()))
}

/// Provision the caller.
#[utoipa::path(
    get,
    path = "/api/sip/provision",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's SIP credentials", body = sipauth_wire::ProvisionResponse),
        (status = 401, description = "No token, or a token that failed verification", body = sipauth_wire::ApiError),
        (status = 403, description = "The policy refuses this identity, or its account is disabled", body = sipauth_wire::ApiError),
        (status = 429, description = "Rate limited", body = sipauth_wire::ApiError),
        (status = 503, description = "The database or the provider is unavailable", body = sipauth_wire::ApiError),
    )
)]
pub async fn provision(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
) -> Result<Json<sipauth_wire::ProvisionResponse>, ApiError> {
    let identity = caller(&state, &headers).await?;
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
        (status = 401, description = "No token, or a token that failed verification", body = sipauth_wire::ApiError),
        (status = 403, description = "The policy refuses this identity, or its account is disabled", body = sipauth_wire::ApiError),
        (status = 413, description = "The body is too large", body = sipauth_wire::ApiError),
        (status = 429, description = "Rate limited", body = sipauth_wire::ApiError),
        (status = 503, description = "The database or the provider is unavailable", body = sipauth_wire::ApiError),
    )
)]
pub async fn provision_with_body(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<sipauth_wire::ProvisionResponse>, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::TooLarge)?;
    if !bytes.iter().all(u8::is_ascii_whitespace) {
        serde_json::from_slice::<sipauth_wire::ProvisionRequest>(&bytes).map_err(|e| {
            ApiError::BadRequest(format!("the body is not a provisioning request: {e}"))
        })?;
    }
    provision(State(state), ip, headers).await
}

/// Deprovision the caller: the password stops working at the SIP server at once.
#[utoipa::path(
    delete,
    path = "/api/sip/provision",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deprovisioned (or there was nothing to deprovision)"),
        (status = 401, description = "No token, or a token that failed verification", body = sipauth_wire::ApiError),
        (status = 503, description = "The database or the provider is unavailable", body = sipauth_wire::ApiError),
    )
)]
pub async fn deprovision(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let identity = caller(&state, &headers).await?;
    let provisioner = state.provisioner.clone();
    let ip = ip_text(&ip);
    tokio::spawn(async move { provisioner.deprovision(&identity, ip.as_deref()).await })
        .await
        .map_err(|e| ApiError::Internal(format!("the deprovision task failed: {e}")))??;
    Ok(StatusCode::NO_CONTENT)
}

/// The process runs.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> impl IntoResponse {
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
pub async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
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

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(&state.tokens).await,
    )
}

/// Anything else.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// A known path with a method it does not take.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
