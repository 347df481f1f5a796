//! How sipauth talks HTTP: a small [`Transport`] trait (send one [`HttpRequest`], read the
//! answer up to a size limit) and the [`HttpClient`] handle every flow uses. This module owns the
//! guarantees every transport must keep where its platform allows, and turns transport failures
//! into [`TransportError`](crate::error::TransportError); what a response means is decided by the module that asked.
//!
//! The guarantees:
//! - **no redirects followed** (an OAuth client must not follow them: SSRF and code leakage);
//! - **timeouts**: connect and total;
//! - **bounded bodies**: every body is read chunk by chunk up to its endpoint's limit
//!   ([`Endpoint::body_limit`]) and refused (`response_too_large`) as soon as it passes it, so a
//!   hostile or broken server can neither exhaust memory nor stall us past the timeout.
//!
//! The native transport (feature `native`, the default) is reqwest over rustls and keeps all
//! three. A browser transport (the `web` feature, with the wasm bindings) runs on `fetch`, which
//! cannot refuse redirects itself (`redirect: "manual"` yields an opaque answer, reported as
//! unusable), whose timeout is an abort signal, and whose body is still read with the limit.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use url::Url;

use crate::error::{ConfigError, Endpoint, Error, ProviderError, RedactedBody, ResponseError};

/// A boxed, sendable future (the trait stays object-safe without an async-trait dependency).
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The HTTP methods sipauth uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// DELETE.
    Delete,
}

/// One request, as a transport sends it.
#[derive(Clone)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The URL.
    pub url: Url,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body, for POST.
    pub body: Option<Vec<u8>>,
    /// A total timeout shorter than the transport's own, for this request.
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers and bodies carry credentials: never printed.
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl HttpRequest {
    /// A GET of `url` accepting JSON.
    pub fn get(url: Url) -> Self {
        Self {
            method: Method::Get,
            url,
            headers: vec![("accept".into(), "application/json".into())],
            body: None,
            timeout: None,
        }
    }

    /// A POST to `url` accepting JSON.
    pub fn post(url: Url) -> Self {
        Self {
            method: Method::Post,
            ..Self::get(url)
        }
    }

    /// A DELETE of `url` accepting JSON.
    pub fn delete(url: Url) -> Self {
        Self {
            method: Method::Delete,
            ..Self::get(url)
        }
    }

    /// Sets a header (replacing one of the same name).
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// A form-encoded body.
    pub fn form<'a>(mut self, fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.body = Some(body.into_bytes());
        self.header("content-type", "application/x-www-form-urlencoded")
    }

    /// A JSON body.
    pub fn json<T: serde::Serialize>(mut self, value: &T) -> Self {
        self.body = Some(serde_json::to_vec(value).unwrap_or_default());
        self.header("content-type", "application/json")
    }

    /// A total timeout for this request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// What came back from an endpoint.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`, or empty.
    pub content_type: String,
    /// The `WWW-Authenticate` header, if any.
    pub www_authenticate: Option<String>,
    /// The body (at most the limit the request was sent with).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as a JSON object or, failing that, as a form-encoded one (GitHub without
    /// `Accept: application/json`).
    pub fn fields(&self) -> Option<Map<String, Value>> {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&self.body) {
            return Some(map);
        }
        let text = std::str::from_utf8(&self.body).ok()?.trim();
        let form_typed = self
            .content_type
            .starts_with("application/x-www-form-urlencoded");
        let form_shaped = !text.is_empty()
            && !text.starts_with('{')
            && !text.starts_with('<')
            && !text.contains(char::is_whitespace)
            && text.contains('=');
        if form_typed || form_shaped {
            let map: Map<String, Value> = url::form_urlencoded::parse(text.as_bytes())
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect();
            if !map.is_empty() {
                return Some(map);
            }
        }
        None
    }

    /// An RFC 6749 §5.2 error body as a [`ProviderError`], whatever the status (GitHub answers
    /// errors with 200).
    pub fn oauth_error(
        &self,
        endpoint: Endpoint,
        fields: &Map<String, Value>,
    ) -> Option<ProviderError> {
        let error = fields.get("error")?.as_str()?.to_string();
        let text = |k: &str| fields.get(k).and_then(Value::as_str).map(str::to_string);
        Some(ProviderError {
            endpoint,
            error,
            description: text("error_description"),
            uri: text("error_uri"),
            state: None,
            status: Some(self.status),
        })
    }

    /// The error for a non-success answer: the provider's OAuth2 error when the body is one,
    /// else an unusable answer.
    pub fn endpoint_error(&self, endpoint: Endpoint) -> Error {
        match self
            .fields()
            .and_then(|fields| self.oauth_error(endpoint, &fields))
        {
            Some(err) => err.into(),
            None => self.unusable(endpoint, "error status without an OAuth2 error body"),
        }
    }

    /// The error for an answer we cannot use: status, reason, and the body redacted.
    pub fn unusable(&self, endpoint: Endpoint, reason: impl Into<String>) -> Error {
        Error::Response(ResponseError {
            endpoint,
            status: self.status,
            reason: reason.into(),
            body: RedactedBody::new(&self.body),
            too_large: false,
        })
    }
}

/// The error for a body past its limit.
pub(crate) fn too_large(endpoint: Endpoint, status: u16, limit: usize) -> Error {
    Error::Response(ResponseError {
        endpoint,
        status,
        reason: format!("the response body is larger than the limit of {limit} bytes"),
        body: RedactedBody::new(b""),
        too_large: true,
    })
}

/// Sends requests. Implementations keep this module's guarantees where their platform allows
/// (see the module documentation) and read at most `limit` bytes of body, refusing more with
/// `response_too_large`.
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Sends `request` to `endpoint` and reads the answer.
    fn send<'a>(
        &'a self,
        endpoint: Endpoint,
        request: HttpRequest,
        limit: usize,
    ) -> BoxFuture<'a, Result<RawResponse, Error>>;
}

/// A cheaply cloneable handle on the transport sipauth uses.
#[derive(Debug, Clone)]
pub struct HttpClient {
    transport: Arc<dyn Transport>,
}

/// The default total timeout for one request to a provider.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl HttpClient {
    /// The platform's transport with sipauth's defaults (no redirects, 10 s connect, 30 s
    /// total timeout, bounded bodies).
    pub fn new() -> Result<Self, ConfigError> {
        Self::with_timeout(DEFAULT_TIMEOUT)
    }

    /// The platform's transport with a total timeout of your choice.
    #[cfg(feature = "native")]
    pub fn with_timeout(timeout: Duration) -> Result<Self, ConfigError> {
        Ok(Self::with_transport(native::ReqwestTransport::new(
            timeout,
        )?))
    }

    /// In the browser: `fetch`, through reqwest's wasm client.
    #[cfg(all(not(feature = "native"), feature = "web", target_arch = "wasm32"))]
    pub fn with_timeout(timeout: Duration) -> Result<Self, ConfigError> {
        Ok(Self::with_transport(fetch::FetchTransport::new(timeout)))
    }

    /// Without the `native` feature, a transport must be given ([`with_transport`](Self::with_transport)).
    #[cfg(all(
        not(feature = "native"),
        not(all(feature = "web", target_arch = "wasm32"))
    ))]
    pub fn with_timeout(_timeout: Duration) -> Result<Self, ConfigError> {
        Err(ConfigError::Missing(
            "an HTTP transport (enable the `native` feature, or pass one with HttpClient::with_transport)",
        ))
    }

    /// Uses your transport (a test double, a proxying client, the browser's fetch).
    pub fn with_transport(transport: impl Transport + 'static) -> Self {
        Self {
            transport: Arc::new(transport),
        }
    }

    /// Wraps a reqwest client you built. It must not follow redirects.
    #[cfg(feature = "native")]
    pub fn from_reqwest(inner: reqwest::Client) -> Self {
        Self::with_transport(native::ReqwestTransport { inner })
    }

    /// Sends a request and reads the response, up to the endpoint's body limit.
    pub async fn send(
        &self,
        endpoint: Endpoint,
        request: HttpRequest,
    ) -> Result<RawResponse, Error> {
        self.transport
            .send(endpoint, request, endpoint.body_limit())
            .await
    }
}

#[cfg(feature = "native")]
mod native {
    //! The native transport: reqwest over rustls.

    use std::time::Duration;

    use super::{too_large, BoxFuture, HttpRequest, RawResponse, Transport};
    use crate::error::{ConfigError, Endpoint, Error, TransportError};

    #[derive(Debug)]
    pub(super) struct ReqwestTransport {
        pub(super) inner: reqwest::Client,
    }

    impl ReqwestTransport {
        pub(super) fn new(timeout: Duration) -> Result<Self, ConfigError> {
            let inner = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(10).min(timeout))
                .timeout(timeout)
                .user_agent(concat!("sipauth/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| ConfigError::Unsupported {
                    field: "http_client",
                    value: String::new(),
                    reason: e.to_string(),
                })?;
            Ok(Self { inner })
        }
    }

    impl Transport for ReqwestTransport {
        fn send<'a>(
            &'a self,
            endpoint: Endpoint,
            request: HttpRequest,
            limit: usize,
        ) -> BoxFuture<'a, Result<RawResponse, Error>> {
            Box::pin(async move {
                let url = request.url.as_str().to_string();
                let timeout = request.timeout;
                let mut builder = super::with_reqwest::builder(&self.inner, request);
                if let Some(timeout) = timeout {
                    builder = builder.timeout(timeout);
                }
                let mut response = builder
                    .send()
                    .await
                    .map_err(|e| transport(endpoint, &url, e))?;
                let (status, content_type, www_authenticate) =
                    super::with_reqwest::answer_head(&response, endpoint, limit)?;
                let mut body = Vec::new();
                while let Some(chunk) = response
                    .chunk()
                    .await
                    .map_err(|e| transport(endpoint, &url, e))?
                {
                    if body.len() + chunk.len() > limit {
                        return Err(too_large(endpoint, status, limit));
                    }
                    body.extend_from_slice(&chunk);
                }
                tracing::debug!(%endpoint, status, "provider answered");
                Ok(RawResponse {
                    status,
                    content_type,
                    www_authenticate,
                    body,
                })
            })
        }
    }

    fn transport(endpoint: Endpoint, url: &str, error: reqwest::Error) -> Error {
        let timed_out = error.is_timeout();
        let error = error.without_url();
        // reqwest's own message is terse ("error sending request"): append the cause chain,
        // which tells a refused connection from a DNS or TLS failure. None of it contains a
        // request body.
        let mut message = error.to_string();
        let mut cause = std::error::Error::source(&error);
        while let Some(c) = cause {
            message.push_str(": ");
            message.push_str(&c.to_string());
            cause = c.source();
        }
        Error::Transport(TransportError {
            endpoint,
            url: url.to_string(),
            timed_out,
            message,
        })
    }
}

#[cfg(any(feature = "native", all(feature = "web", target_arch = "wasm32")))]
mod with_reqwest {
    //! What both reqwest clients (native and the browser's fetch) are asked the same way.

    use super::{Endpoint, Error, HttpRequest, Method};

    /// The request as a reqwest builder: method, URL, headers, body.
    pub(super) fn builder(
        client: &reqwest::Client,
        request: HttpRequest,
    ) -> reqwest::RequestBuilder {
        let mut builder = match request.method {
            Method::Get => client.get(request.url.clone()),
            Method::Post => client.post(request.url.clone()),
            Method::Delete => client.delete(request.url.clone()),
        };
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        builder
    }

    /// The answer's head: status, `Content-Type` (empty when absent) and `WWW-Authenticate`;
    /// a declared length over `limit` is refused before any of the body is read.
    pub(super) fn answer_head(
        response: &reqwest::Response,
        endpoint: Endpoint,
        limit: usize,
    ) -> Result<(u16, String, Option<String>), Error> {
        let status = response.status().as_u16();
        if response
            .content_length()
            .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
        {
            return Err(super::too_large(endpoint, status, limit));
        }
        let headers = response.headers();
        let text = |name: reqwest::header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Ok((
            status,
            text(reqwest::header::CONTENT_TYPE).unwrap_or_default(),
            text(reqwest::header::WWW_AUTHENTICATE),
        ))
    }
}

#[cfg(all(feature = "web", target_arch = "wasm32"))]
mod fetch {
    //! The browser transport: `fetch`, through reqwest's wasm client (one HTTP stack). The
    //! browser follows redirects itself for `fetch` only when asked; reqwest's wasm client
    //! uses `redirect: follow`, so a provider redirecting its token endpoint is read as the
    //! final answer's status. A declared length over the limit is refused before the body is
    //! read; the body itself is read whole (fetch gives no chunked reads here) and then
    //! checked. The request's own timeout, or the client's, races a browser timer.

    use std::time::Duration;

    use send_wrapper::SendWrapper;

    use super::{too_large, BoxFuture, HttpRequest, RawResponse, Transport};
    use crate::error::{Endpoint, Error, TransportError};

    #[derive(Debug)]
    pub(super) struct FetchTransport {
        inner: reqwest::Client,
        timeout: Duration,
    }

    impl FetchTransport {
        pub(super) fn new(timeout: Duration) -> Self {
            Self {
                inner: reqwest::Client::new(),
                timeout,
            }
        }
    }

    fn failed(endpoint: Endpoint, url: &str, timed_out: bool, message: String) -> Error {
        Error::Transport(TransportError {
            endpoint,
            url: url.to_string(),
            timed_out,
            message,
        })
    }

    impl Transport for FetchTransport {
        fn send<'a>(
            &'a self,
            endpoint: Endpoint,
            request: HttpRequest,
            limit: usize,
        ) -> BoxFuture<'a, Result<RawResponse, Error>> {
            let url = request.url.as_str().to_string();
            let timeout = request.timeout.unwrap_or(self.timeout);
            let timer_url = url.clone();
            let builder = super::with_reqwest::builder(&self.inner, request);
            let exchange = async move {
                let response = builder
                    .send()
                    .await
                    .map_err(|e| failed(endpoint, &url, false, e.to_string()))?;
                let (status, content_type, www_authenticate) =
                    super::with_reqwest::answer_head(&response, endpoint, limit)?;
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| failed(endpoint, &url, false, e.to_string()))?;
                if body.len() > limit {
                    return Err(too_large(endpoint, status, limit));
                }
                Ok(RawResponse {
                    status,
                    content_type,
                    www_authenticate,
                    body: body.to_vec(),
                })
            };
            let url = timer_url;
            // The browser is single-threaded: the fetch future never crosses threads.
            Box::pin(SendWrapper::new(async move {
                let exchange = std::pin::pin!(exchange);
                let timer = std::pin::pin!(gloo_timers::future::sleep(timeout));
                match futures_util::future::select(exchange, timer).await {
                    futures_util::future::Either::Left((result, _)) => result,
                    futures_util::future::Either::Right(_) => Err(failed(
                        endpoint,
                        &url,
                        true,
                        format!("no answer within {} s", timeout.as_secs()),
                    )),
                }
            }))
        }
    }
}
