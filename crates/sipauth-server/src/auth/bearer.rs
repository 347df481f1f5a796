//! [`Caller`]: bearer authentication as an extractor. `Authorization: Bearer <token>` is
//! verified through the token check (the library's one verification path), failures are
//! counted by reason, and the identity is held to its rate limit. A handler that takes a
//! `Caller` before its body authenticates before the body is judged (401 before 400).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use sipauth::VerifiedIdentity;

use crate::error::ApiError;
use crate::state::AppState;

/// The verified caller of a request.
#[derive(Debug)]
pub struct Caller(pub VerifiedIdentity);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let client = parts
            .extensions
            .get::<crate::edge::ClientIp>()
            .and_then(|c| c.0);
        let identity = verified(state, &parts.headers, client).await;
        if let Err(ApiError::InvalidToken(reason, _)) = &identity {
            state.metrics.verification_failure(reason);
        }
        let identity = identity?;
        state
            .limits
            .check_identity(identity.issuer(), identity.subject())?;
        Ok(Caller(identity))
    }
}

async fn verified(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<std::net::IpAddr>,
) -> Result<VerifiedIdentity, ApiError> {
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
    state.tokens.verify_from(token, client).await
}
