//! The provisioning API, compatible with the client library's `api` password strategy and the
//! guide's backend example: `POST /api/sip/provision` (a `{"userInfo": ...}` body is accepted and
//! ignored for identity) and `GET` provision the caller; `DELETE` deprovisions them (204).
//! `/healthz` says the process runs; `/readyz` that the database answers.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use sipauth::VerifiedIdentity;

use crate::error::ApiError;
use crate::{AppState, MAX_BODY};

/// The caller, from `Authorization: Bearer <token>`.
async fn caller(state: &AppState, headers: &HeaderMap) -> Result<VerifiedIdentity, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?
        .to_str()
        .map_err(|_| ApiError::InvalidToken("the Authorization header is not text".into()))?;
    let token = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or(ApiError::MissingToken)?;
    state.tokens.verify(token).await
}

/// `GET /api/sip/provision`.
pub async fn provision(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<sipauth_wire::ProvisionResponse>, ApiError> {
    let identity = caller(&state, &headers).await?;
    let provisioned = state.provisioner.provision(&identity, None).await?;
    Ok(Json(provisioned.to_wire()))
}

/// `POST /api/sip/provision`: the body, if any, must be the guide's `{"userInfo": ...}`; it is
/// read (bounded) and checked for form, never used for identity.
pub async fn provision_with_body(
    State(state): State<AppState>,
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
    provision(State(state), headers).await
}

/// `DELETE /api/sip/provision`.
pub async fn deprovision(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let identity = caller(&state, &headers).await?;
    state.provisioner.deprovision(&identity, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /healthz`.
pub async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 when the database answers, else 503.
pub async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    if state.provisioner.database().is_ready().await {
        Ok(Json(serde_json::json!({ "status": "ready" })))
    } else {
        Err(ApiError::Unavailable("the database does not answer".into()))
    }
}

/// Anything else.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// A known path with a method it does not take.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
