//! The one HTTP client sipauth uses (reqwest with rustls): redirects off (an OAuth client must not
//! follow them: SSRF and code leakage), connect and total timeouts, a user agent, and a size limit
//! on every response body, per endpoint ([`Endpoint::body_limit`]): a body is read chunk by chunk
//! and refused (`response_too_large`) as soon as it passes the limit, so a hostile or broken
//! server can neither exhaust memory nor stall us past the timeout. This module owns sending a
//! request and turning transport failures into [`TransportError`]; what a response means is
//! decided by the module that asked.

use std::time::Duration;

use crate::error::{ConfigError, Endpoint, Error, RedactedBody, ResponseError, TransportError};

/// What came back from an endpoint.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub status: u16,
    pub content_type: String,
    pub www_authenticate: Option<String>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error for an answer we cannot use: status, reason, and the body redacted.
    pub fn unusable(&self, endpoint: Endpoint, reason: impl Into<String>) -> crate::error::Error {
        crate::error::Error::Response(crate::error::ResponseError {
            endpoint,
            status: self.status,
            reason: reason.into(),
            body: crate::error::RedactedBody::new(&self.body),
            too_large: false,
        })
    }
}

/// A cheaply cloneable HTTP client configured for talking to identity providers.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
}

/// The default total timeout for one request to a provider.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl HttpClient {
    /// A client with sipauth's defaults (no redirects, 10 s connect, 30 s total timeout).
    pub fn new() -> Result<Self, ConfigError> {
        Self::with_timeout(DEFAULT_TIMEOUT)
    }

    /// A client with a total timeout of your choice.
    pub fn with_timeout(timeout: Duration) -> Result<Self, ConfigError> {
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

    /// Wraps a reqwest client you built. It should not follow redirects.
    pub fn from_reqwest(inner: reqwest::Client) -> Self {
        Self { inner }
    }

    /// The underlying reqwest client (to build requests).
    pub(crate) fn reqwest(&self) -> &reqwest::Client {
        &self.inner
    }

    /// Sends a request and reads the response, up to the endpoint's body limit.
    pub(crate) async fn send(
        &self,
        endpoint: Endpoint,
        request: reqwest::RequestBuilder,
    ) -> Result<RawResponse, Error> {
        self.send_limited(endpoint, request, endpoint.body_limit())
            .await
    }

    /// [`send`](Self::send) with an explicit body limit in bytes.
    pub(crate) async fn send_limited(
        &self,
        endpoint: Endpoint,
        request: reqwest::RequestBuilder,
        limit: usize,
    ) -> Result<RawResponse, Error> {
        let request = request.build().map_err(|e| transport(endpoint, "", e))?;
        let url = request.url().as_str().to_string();
        let mut response = self
            .inner
            .execute(request)
            .await
            .map_err(|e| transport(endpoint, &url, e))?;
        let status = response.status().as_u16();
        let header = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        let www_authenticate = header(reqwest::header::WWW_AUTHENTICATE);
        let too_large = |status| {
            Error::Response(ResponseError {
                endpoint,
                status,
                reason: format!("the response body is larger than the limit of {limit} bytes"),
                body: RedactedBody::new(b""),
                too_large: true,
            })
        };
        // A declared length over the limit is refused before reading anything.
        if response
            .content_length()
            .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
        {
            return Err(too_large(status));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport(endpoint, &url, e))?
        {
            if body.len() + chunk.len() > limit {
                return Err(too_large(status));
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
    }
}

fn transport(endpoint: Endpoint, url: &str, error: reqwest::Error) -> TransportError {
    let timed_out = error.is_timeout();
    let error = error.without_url();
    // reqwest's own message is terse ("error sending request"): append the cause chain, which
    // tells a refused connection from a DNS or TLS failure. None of it contains a request body.
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    TransportError {
        endpoint,
        url: url.to_string(),
        timed_out,
        message,
    }
}
