//! The RFC 8252 loopback receiver: listens on 127.0.0.1 (a free port, or a fixed one), and
//! delivers the one redirect that carries the state of the sign-in in progress. Any other
//! request (another path, a missing or foreign state: a stray or hostile request, since any
//! local user can reach the port) gets an error page and the sign-in keeps waiting. The browser
//! gets a success or failure page once the caller knows the outcome. Used by `sipauth login`
//! and by the sign-in example; what the redirect means is the library's business.

use std::time::Duration;

use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

const SUCCESS_PAGE: &str = "<!doctype html><meta charset=utf-8><title>sipauth</title>\
<h1>Signed in</h1><p>Your SIP credentials are ready. You can close this tab.</p>";
const FAILURE_PAGE: &str = "<!doctype html><meta charset=utf-8><title>sipauth</title>\
<h1>Sign-in failed</h1><p>See the terminal for details. You can close this tab.</p>";
const STRAY_PAGE: &str = "<!doctype html><meta charset=utf-8><title>sipauth</title>\
<h1>Not this sign-in</h1><p>This request does not belong to the sign-in in progress, which is \
still waiting. Use the link the terminal printed.</p>";
const NOT_FOUND_PAGE: &str = "<!doctype html><meta charset=utf-8><title>sipauth</title>\
<h1>Not found</h1><p>This is sipauth's sign-in listener.</p>";

/// A bound listener, before the sign-in's state is known.
pub struct Loopback {
    listener: TcpListener,
    origin: String,
    path: String,
}

/// The redirect of the sign-in in progress; answer it with [`Callback::respond`].
pub struct Callback {
    /// The full URL the browser was redirected to.
    pub url: String,
    reply: oneshot::Sender<bool>,
}

impl Callback {
    /// Shows the browser the success or the failure page.
    pub fn respond(self, success: bool) {
        let _ = self.reply.send(success);
    }
}

/// A listener waiting for the sign-in's redirect.
pub struct Waiting {
    deliveries: mpsc::Receiver<(String, oneshot::Sender<bool>)>,
    origin: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Clone)]
struct Route {
    path: String,
    state: String,
    deliver: mpsc::Sender<(String, oneshot::Sender<bool>)>,
}

impl Loopback {
    /// Listens on 127.0.0.1:`port` (0: any free port) for redirects to `path`.
    pub async fn bind(port: u16, path: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let origin = format!("http://{}", listener.local_addr()?);
        Ok(Self {
            listener,
            origin,
            path: path.to_string(),
        })
    }

    /// The redirect URI to register the sign-in with.
    pub fn redirect_uri(&self) -> String {
        format!("{}{}", self.origin, self.path)
    }

    /// Starts answering: only a request carrying `state` at the redirect path is delivered.
    pub fn accept(self, state: &str) -> Waiting {
        let (deliver, deliveries) = mpsc::channel(4);
        let (stop, stopped) = oneshot::channel::<()>();
        let route = Route {
            path: self.path,
            state: state.to_string(),
            deliver,
        };
        let app = axum::Router::new().fallback(handle).with_state(route);
        let listener = self.listener;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Waiting {
            deliveries,
            origin: self.origin,
            stop: Some(stop),
            server: Some(server),
        }
    }
}

impl Waiting {
    /// Waits for the sign-in's redirect (`None` if the listener stopped).
    pub async fn next(&mut self) -> Option<Callback> {
        let (path_and_query, reply) = self.deliveries.recv().await?;
        Some(Callback {
            url: format!("{}{path_and_query}", self.origin),
            reply,
        })
    }

    /// Stops listening, giving the browser up to `grace` to get its page.
    pub async fn finish(mut self, grace: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(grace, server).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        // Dropped without `finish` (Ctrl-C, a timeout): stop at once.
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

async fn handle(
    axum::extract::State(route): axum::extract::State<Route>,
    uri: Uri,
) -> axum::response::Response {
    if uri.path() != route.path {
        return (StatusCode::NOT_FOUND, Html(NOT_FOUND_PAGE)).into_response();
    }
    let state_matches = uri.query().is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .any(|(k, v)| k == "state" && bool::from(v.as_bytes().ct_eq(route.state.as_bytes())))
    });
    if !state_matches {
        crate::output::say(
            "(ignored a request to the sign-in listener that does not carry this sign-in's state)",
        );
        return (StatusCode::BAD_REQUEST, Html(STRAY_PAGE)).into_response();
    }
    let (reply, outcome) = oneshot::channel();
    if route.deliver.send((uri.to_string(), reply)).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, Html(FAILURE_PAGE)).into_response();
    }
    match tokio::time::timeout(Duration::from_secs(60), outcome).await {
        Ok(Ok(true)) => Html(SUCCESS_PAGE).into_response(),
        _ => (StatusCode::BAD_REQUEST, Html(FAILURE_PAGE)).into_response(),
    }
}
