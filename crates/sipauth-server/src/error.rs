//! [`ApiError`]: the one type that decides every error answer: status, `{error,
//! error_description}` body (`sipauth_wire::ApiError`), and `WWW-Authenticate` for token problems
//! (RFC 6750 §3). Never a stack trace, a token or a secret.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sipauth_provision::ProvisionError;
use sipauth_wire::ErrorCode;

/// An error answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum ApiError {
    /// No bearer token was sent (401, `WWW-Authenticate: Bearer`).
    MissingToken,
    /// The token failed verification (401, `error="invalid_token"`): the reason (a stable
    /// code, for metrics) and the description.
    InvalidToken(&'static str, String),
    /// The identity may not have SIP access (403 `access_denied`).
    Forbidden(String),
    /// The identity's SIP account is disabled (403 `account_disabled`).
    AccountDisabled,
    /// The provider signed the person out after the token was issued (401 `signed_out`,
    /// `error="invalid_token"`): sign in again.
    SignedOut,
    /// The SIP domain the identity's claims give is not allowed (403 `domain_not_allowed`).
    DomainNotAllowed(String),
    /// The person has as many devices as allowed (409 `too_many_devices`).
    TooManyDevices(String),
    /// The body is malformed (400 `invalid_request`).
    BadRequest(String),
    /// The body is larger than the limit (413 `invalid_request`).
    TooLarge,
    /// No such route (404).
    NotFound,
    /// The route does not take this method (405).
    MethodNotAllowed,
    /// The database or the provider is unavailable (503 `temporarily_unavailable`).
    Unavailable(String),
    /// Too many requests; retry after this many seconds (429 `rate_limited`).
    RateLimited(u64),
    /// The request took longer than the service allows (503 `timeout`).
    Timeout,
    /// Too many or too large headers (431 `invalid_request`).
    HeadersTooLarge,
    /// Anything else (500 `server_error`), logged, not shown.
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, ErrorCode, String) {
        match self {
            ApiError::MissingToken => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidRequest,
                "a bearer token is required".into(),
            ),
            ApiError::InvalidToken(_, why) => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidToken,
                why.clone(),
            ),
            ApiError::RateLimited(secs) => (
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                format!("too many requests; try again in {secs} s"),
            ),
            ApiError::Timeout => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Timeout,
                "the request took too long; try again".into(),
            ),
            ApiError::HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                ErrorCode::InvalidRequest,
                format!(
                    "at most {} headers of {} bytes in all",
                    crate::MAX_HEADERS,
                    crate::MAX_HEADER_BYTES
                ),
            ),
            ApiError::Forbidden(why) => {
                (StatusCode::FORBIDDEN, ErrorCode::AccessDenied, why.clone())
            }
            ApiError::DomainNotAllowed(why) => (
                StatusCode::FORBIDDEN,
                ErrorCode::DomainNotAllowed,
                why.clone(),
            ),
            ApiError::AccountDisabled => (
                StatusCode::FORBIDDEN,
                ErrorCode::AccountDisabled,
                "the SIP account is disabled".into(),
            ),
            ApiError::SignedOut => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::SignedOut,
                "the identity provider signed you out after this token was issued; sign in again"
                    .into(),
            ),
            ApiError::TooManyDevices(why) => {
                (StatusCode::CONFLICT, ErrorCode::TooManyDevices, why.clone())
            }
            ApiError::BadRequest(why) => (
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                why.clone(),
            ),
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::InvalidRequest,
                format!("the request body is larger than {} bytes", crate::MAX_BODY),
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "no such endpoint".into(),
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::InvalidRequest,
                "this endpoint does not take that method".into(),
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::TemporarilyUnavailable,
                "the service cannot reach its database or identity provider; try again".into(),
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::ServerError,
                "the service failed".into(),
            ),
        }
    }
}

impl ApiError {
    /// The HTTP status of this answer (the API's, and the web page's for the same error).
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    /// The stable code of this answer.
    pub fn code(&self) -> ErrorCode {
        self.parts().1
    }
}

/// The one mapping of provisioning outcomes to answers, for the API and the web page alike: a
/// refused identity is 403, a database outage 503, anything else 500.
impl From<ProvisionError> for ApiError {
    fn from(e: ProvisionError) -> Self {
        match e {
            ProvisionError::Denied(why) => ApiError::Forbidden(why),
            ProvisionError::Database(why) => ApiError::Unavailable(why),
            // The rest by their code, so a new refusal is never answered as a failure.
            other => match other.code() {
                ErrorCode::AccountDisabled => ApiError::AccountDisabled,
                ErrorCode::SignedOut => ApiError::SignedOut,
                ErrorCode::TooManyDevices => ApiError::TooManyDevices(other.to_string()),
                ErrorCode::DomainNotAllowed => ApiError::DomainNotAllowed(other.to_string()),
                ErrorCode::AccessDenied => ApiError::Forbidden(other.to_string()),
                ErrorCode::InvalidRequest => ApiError::BadRequest(other.to_string()),
                ErrorCode::TemporarilyUnavailable => ApiError::Unavailable(other.to_string()),
                _ => ApiError::Internal(other.to_string()),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, description) = self.parts();
        match &self {
            ApiError::Unavailable(why) | ApiError::Internal(why) => {
                tracing::warn!(code = code.as_str(), detail = %why, "request failed");
            }
            _ => tracing::debug!(code = code.as_str(), %description, "request refused"),
        }
        let body = sipauth_wire::ApiError::new(code.as_str(), description);
        let mut response = (status, axum::Json(body)).into_response();
        let retry_after = match &self {
            ApiError::Unavailable(_) | ApiError::Timeout => Some(1),
            ApiError::RateLimited(secs) => Some(*secs),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        let challenge = match self {
            ApiError::MissingToken => Some("Bearer"),
            ApiError::InvalidToken(..) | ApiError::SignedOut => {
                Some("Bearer error=\"invalid_token\"")
            }
            _ => None,
        };
        if let Some(challenge) = challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_of_a_provision_keeps_its_code_in_the_answer() {
        for (e, status) in [
            (ProvisionError::Removed, StatusCode::FORBIDDEN),
            (ProvisionError::Disabled("a".into()), StatusCode::FORBIDDEN),
            (ProvisionError::SignedOut, StatusCode::UNAUTHORIZED),
            (
                ProvisionError::TooManyDevices("x".into()),
                StatusCode::CONFLICT,
            ),
            (ProvisionError::Denied("no".into()), StatusCode::FORBIDDEN),
            (
                ProvisionError::Database("down".into()),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (ProvisionError::Invalid("x".into()), StatusCode::BAD_REQUEST),
        ] {
            let code = e.code();
            let (got_status, got_code, _) = ApiError::from(e).parts();
            assert_eq!((got_status, got_code), (status, code));
        }
    }
}
