//! A counting reverse proxy on loopback: forwards every request to an upstream (the real
//! oidc-provider) and counts requests per path, so a test can prove how many token requests a
//! client really made; and, when told to, answers a path with an error status instead (a
//! provider's outage, as a 5xx or a 429 with an OAuth2 error body).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

#[derive(Clone)]
struct Shared {
    upstream: String,
    http: reqwest::Client,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    failures: Arc<Mutex<HashMap<String, (u16, usize)>>>,
}

/// A running proxy.
#[derive(Clone)]
pub struct CountingProxy {
    pub base: String,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    failures: Arc<Mutex<HashMap<String, (u16, usize)>>>,
}

async fn forward(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    {
        let mut counts = shared.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry(uri.path().to_string()).or_default() += 1;
    }
    {
        let mut failures = shared.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((status, left)) = failures.get_mut(uri.path()) {
            if *left > 0 {
                *left -= 1;
                let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY);
                return (
                    status,
                    [("content-type", "application/json")],
                    r#"{"error":"server_error","error_description":"the provider says: internal details"}"#,
                )
                    .into_response();
            }
        }
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut request = shared
        .http
        .request(method, format!("{}{path}", shared.upstream))
        .body(body);
    for name in ["authorization", "content-type", "accept"] {
        if let Some(v) = headers.get(name) {
            request = request.header(name, v);
        }
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_string();
            let body = response.bytes().await.unwrap_or_default();
            Response::builder()
                .status(status)
                .header("content-type", content_type)
                .body(axum::body::Body::from(body))
                .unwrap_or_default()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

impl CountingProxy {
    /// Starts a proxy to `upstream` (e.g. `http://127.0.0.1:4000`) on a free loopback port.
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?;
        let failures = Arc::new(Mutex::new(HashMap::new()));
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            http,
            counts: counts.clone(),
            failures: failures.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(shared);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            base,
            counts,
            failures,
        })
    }

    /// The next `times` requests to `path` are answered `status` (with an OAuth2 error body)
    /// instead of being forwarded.
    pub fn fail(&self, path: &str, status: u16, times: usize) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_string(), (status, times));
    }

    /// How many requests `path` received.
    pub fn count(&self, path: &str) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}
