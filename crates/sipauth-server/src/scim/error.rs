//! [`ScimError`]: every SCIM error answer, as RFC 7644 §3.12 writes it: `schemas`, `status` as
//! a string, `scimType` (the stable code a provider acts on), `detail`; `application/scim+json`.
//! Never a stack trace, a token or a secret; database details go to the log only.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sipauth_provision::ProvisionError;

use super::resource::ERROR_SCHEMA;

/// The content type of every SCIM answer.
pub(crate) const SCIM_JSON: &str = "application/scim+json";

/// A SCIM error answer.
#[derive(Debug)]
pub(crate) struct ScimError {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
}

impl ScimError {
    fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }
    pub(crate) fn invalid_value(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidValue"), d)
    }
    pub(crate) fn invalid_syntax(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidSyntax"), d)
    }
    pub(crate) fn invalid_filter(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidFilter"), d)
    }
    pub(crate) fn invalid_path(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidPath"), d)
    }
    pub(crate) fn no_target(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("noTarget"), d)
    }
    pub(crate) fn uniqueness(d: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some("uniqueness"), d)
    }
    pub(crate) fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            None,
            "the resource changed (If-Match)",
        )
    }
    pub(crate) fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, format!("{what} not found"))
    }
    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            None,
            "a SCIM bearer token is required",
        )
    }
    pub(crate) fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            format!("at most {limit} bytes"),
        )
    }
    pub(crate) fn internal(d: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %d, "a SCIM request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "the service failed; the details are in its log",
        )
    }
}

impl From<ProvisionError> for ScimError {
    fn from(e: ProvisionError) -> Self {
        match e {
            ProvisionError::Conflict(why) => ScimError::uniqueness(why),
            ProvisionError::Stale => ScimError::new(
                StatusCode::CONFLICT,
                None,
                "the resource kept changing; try again",
            ),
            ProvisionError::Invalid(why) => ScimError::invalid_value(why),
            ProvisionError::NotFound(_) => ScimError::not_found("resource"),
            ProvisionError::Username(why) => {
                ScimError::new(StatusCode::CONFLICT, Some("uniqueness"), why)
            }
            ProvisionError::Database(why) => {
                tracing::warn!(error = %why, "the database failed during a SCIM request");
                ScimError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    "the database is unavailable; try again",
                )
            }
            other => ScimError::internal(other),
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
