//! A loopback HTTP stub: answers configured responses per path and records every request, so a
//! test can play a provider that cannot run here (Google, Entra, GitHub) exactly as its
//! documentation says, and count requests (JWKS refetches, token calls).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

/// A canned response.
#[derive(Clone, Debug)]
pub struct Canned {
    pub delay: Option<std::time::Duration>,
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Canned {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            delay: None,
            status,
            content_type: "application/json".into(),
            headers: vec![],
            body: body.to_string(),
        }
    }

    pub fn text(status: u16, content_type: &str, body: &str) -> Self {
        Self {
            delay: None,
            status,
            content_type: content_type.into(),
            headers: vec![],
            body: body.into(),
        }
    }

    /// Answers only after `delay` (to exercise timeouts).
    pub fn delayed(mut self, delay: std::time::Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A request the stub received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Recorded {
    /// The body's form fields.
    pub fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }
}

#[derive(Default)]
struct Inner {
    routes: HashMap<String, Canned>,
    log: Vec<Recorded>,
}

/// A running stub on 127.0.0.1.
#[derive(Clone)]
pub struct Stub {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let canned = {
        let mut inner = inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.log.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            query: uri.query().map(str::to_string),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        v.to_str().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        inner.routes.get(&path).cloned()
    };
    match canned {
        None => (StatusCode::NOT_FOUND, "no such stub route").into_response(),
        Some(c) => {
            if let Some(delay) = c.delay {
                tokio::time::sleep(delay).await;
            }
            let mut builder = Response::builder()
                .status(c.status)
                .header("content-type", c.content_type);
            for (k, v) in c.headers {
                builder = builder.header(k, v);
            }
            builder
                .body(axum::body::Body::from(c.body))
                .unwrap_or_default()
        }
    }
}

impl Stub {
    /// Starts a stub on a free loopback port (it runs until the test's runtime ends).
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { base, inner })
    }

    /// Serves an OpenID discovery document naming this stub as the issuer, with endpoints
    /// `/auth`, `/token`, `/jwks`, `/me` on it and `extra` merged in (a key set to null is
    /// removed). Returns the document.
    pub fn serve_discovery(&self, extra: serde_json::Value) -> serde_json::Value {
        let mut doc = serde_json::json!({
            "issuer": self.base, "authorization_endpoint": self.url("/auth"),
            "token_endpoint": self.url("/token"), "jwks_uri": self.url("/jwks"),
            "userinfo_endpoint": self.url("/me"),
            "scopes_supported": ["openid", "email", "profile", "offline_access"]
        });
        if let (Some(map), Some(extra)) = (doc.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                if v.is_null() {
                    map.remove(k);
                } else {
                    map.insert(k.clone(), v.clone());
                }
            }
        }
        self.set(
            "/.well-known/openid-configuration",
            Canned::json(200, doc.clone()),
        );
        doc
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answers `path` with `canned` from now on.
    pub fn set(&self, path: &str, canned: Canned) {
        self.lock().routes.insert(path.to_string(), canned);
    }

    /// Requests received for `path`.
    pub fn requests(&self, path: &str) -> Vec<Recorded> {
        self.lock()
            .log
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// How many requests `path` received.
    pub fn hits(&self, path: &str) -> usize {
        self.requests(path).len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
