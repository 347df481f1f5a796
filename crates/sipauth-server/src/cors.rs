//! Cross-origin requests to the API ([`Cors`]): a web app on another origin provisions with a
//! bearer token, so its browser needs the service's consent. Exact origins only, no credentials
//! (the API takes bearer tokens, never cookies, so `Access-Control-Allow-Credentials` is never
//! sent and a session cookie is never readable across origins); `*` is accepted with a warning.
//! A request from an origin not on the list gets no `Access-Control-*` header: the browser
//! blocks it.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::state::AppState;

/// How long a browser may cache a preflight answer.
pub const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The origins whose pages may call the API (`cors_allowed_origins`).
#[derive(Debug, Clone, Default)]
pub struct Cors {
    origins: Vec<HeaderValue>,
    any: bool,
    layer: Option<CorsLayer>,
}

/// Paths whose answers other origins may read (with an allowed origin): the bearer-token API.
const CORS_PREFIX: &str = "/api/";

/// Every request: CORS for the API's paths (preflights answered here, before any route, guard
/// or method check), nothing for the rest.
pub(crate) async fn api(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match &state.cors.layer {
        Some(layer) if request.uri().path().starts_with(CORS_PREFIX) => {
            match layer.layer(next).oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
        _ => next.run(request).await,
    }
}

impl Cors {
    /// Parses the configured origins: each `*` or an exact `scheme://host[:port]` with no path,
    /// query or trailing slash (a browser's `Origin` is exactly that; anything else would never
    /// match and is a mistake worth naming).
    pub fn parse(origins: &[String]) -> Result<Self, String> {
        let mut cors = Cors::default();
        for origin in origins {
            if origin == "*" {
                cors.any = true;
                continue;
            }
            let url = url::Url::parse(origin)
                .map_err(|e| format!("cors_allowed_origins: {origin:?} is not an origin: {e}"))?;
            let exact = url.origin().ascii_serialization();
            if !matches!(url.scheme(), "http" | "https") || exact != *origin {
                return Err(format!(
                    "cors_allowed_origins: {origin:?} is not an origin: write it as a browser sends it, {exact:?} (scheme://host[:port], no path or trailing slash)"
                ));
            }
            let value = HeaderValue::from_str(origin)
                .map_err(|_| format!("cors_allowed_origins: {origin:?} is not an origin"))?;
            cors.origins.push(value);
        }
        cors.layer = cors.make_layer();
        if cors.any {
            tracing::warn!(
                "cors_allowed_origins has \"*\": any web page may call the API with a token it holds; list your apps' origins instead"
            );
        }
        Ok(cors)
    }

    /// Whether any origin is allowed.
    pub fn is_on(&self) -> bool {
        self.any || !self.origins.is_empty()
    }

    /// The layer for the API's routes (`None` when no origin is allowed: no CORS header at all).
    fn make_layer(&self) -> Option<CorsLayer> {
        if !self.is_on() {
            return None;
        }
        let origins = if self.any {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(self.origins.clone())
        };
        Some(
            CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([Method::GET, Method::POST, Method::DELETE])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .expose_headers([header::RETRY_AFTER, header::WWW_AUTHENTICATE])
                .max_age(PREFLIGHT_MAX_AGE),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_origins_a_browser_never_sends() {
        for bad in [
            "https://app.example.com/",
            "https://app.example.com/path",
            "app.example.com",
            "ftp://app.example.com",
            "https://APP.example.com",
            "https://app.example.com:443",
        ] {
            assert!(Cors::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn accepts_exact_origins_and_star() {
        let cors = Cors::parse(&[
            "https://app.example.com".into(),
            "http://127.0.0.1:5173".into(),
        ])
        .unwrap();
        assert!(cors.is_on() && !cors.any);
        assert!(Cors::parse(&["*".into()]).unwrap().any);
        assert!(!Cors::parse(&[]).unwrap().is_on());
    }
}
