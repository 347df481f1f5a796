//! A single-page app served beside the API (`static_dir`), so the app calls the relative
//! `/api/sip/provision` on its own origin with no CORS at all. Files under `/`; any other path
//! a browser navigates to (its request accepts HTML, or its last segment has no extension) gets
//! the app's `index.html`, so client routes such as `/users/john.doe` load the app; a missing
//! asset (`<script src="/app.1234.js">`) gets the JSON 404, not a page of HTML. The service's own paths (the API, SCIM, the sign-in page, the
//! development provider, the operational endpoints) are never shadowed: an unknown path under
//! them stays the service's JSON 404.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use crate::error::ApiError;
use crate::state::AppState;

/// Paths that are the service's, whatever the app's files hold.
const SERVICE_PATHS: &[&str] = &[
    "/api",
    "/scim",
    "/auth",
    "/account",
    "/dev-idp",
    "/backchannel-logout",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
];

/// Whether `path` is the service's (the path itself or anything under it).
fn is_service_path(path: &str) -> bool {
    SERVICE_PATHS.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// A client route of the app: a navigation (the request accepts HTML), or a path whose last
/// segment names no file.
fn is_client_route(path: &str, accepts_html: bool) -> bool {
    accepts_html || !path.rsplit('/').next().unwrap_or_default().contains('.')
}

/// The router's fallback: the app's file, its `index.html`, or the service's JSON 404 / 405.
pub(crate) async fn serve(State(state): State<AppState>, request: Request) -> Response {
    let Some(dir) = state.static_dir.clone() else {
        return ApiError::NotFound.into_response();
    };
    let path = request.uri().path();
    if is_service_path(path) {
        return ApiError::NotFound.into_response();
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return ApiError::MethodNotAllowed.into_response();
    }
    let accepts_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let client_route = is_client_route(path, accepts_html);
    let index = ServeFile::new(dir.join("index.html"));
    let files = ServeDir::new(&*dir).append_index_html_on_directories(true);
    let response = if client_route {
        files.fallback(index).oneshot(request).await
    } else {
        files.oneshot(request).await
    };
    let mut response = match response {
        Ok(response) if response.status() == StatusCode::NOT_FOUND => {
            return ApiError::NotFound.into_response()
        }
        Ok(response) => response.map(Body::new),
        Err(e) => {
            tracing::warn!("static_dir: {e}");
            return ApiError::NotFound.into_response();
        }
    };
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The entry page must be fresh so a deployed app takes effect; hashed assets may cache.
    if headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/html"))
    {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_services_paths_are_never_the_apps() {
        for path in [
            "/api",
            "/api/sip/unknown",
            "/scim/v2/Nope",
            "/auth/",
            "/account/x",
            "/dev-idp/authorize",
            "/metrics",
            "/openapi.json",
        ] {
            assert!(is_service_path(path), "{path}");
        }
        for path in [
            "/",
            "/apis",
            "/calls/42",
            "/assets/app.js",
            "/metrics-dashboard",
        ] {
            assert!(!is_service_path(path), "{path}");
        }
    }

    #[test]
    fn navigations_and_paths_naming_no_file_are_client_routes() {
        assert!(is_client_route("/", false));
        assert!(is_client_route("/calls/42", false));
        assert!(is_client_route("/users/john.doe", true));
        assert!(!is_client_route("/assets/app.js", false));
        assert!(!is_client_route("/favicon.ico", false));
    }
}
