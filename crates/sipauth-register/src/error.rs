//! [`CheckError`]: why a registration check ended without an answer from the SIP server. A
//! refusal (401/403/404) is not an error: it is an [`crate::Outcome`].

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The server cannot be reached (DNS, connection refused, TLS, the WebSocket handshake).
    #[error("cannot reach the SIP server: {0}")]
    Unreachable(String),
    /// No answer in time.
    #[error("the SIP server did not answer within {0} s")]
    Timeout(u64),
    /// The server answered something that is not usable SIP.
    #[error("the SIP server's answer is not usable: {0}")]
    Protocol(String),
    /// The check's own settings are wrong (a URI, a transport).
    #[error("{0}")]
    Config(String),
}

impl CheckError {
    pub(crate) fn protocol(what: impl Into<String>) -> Self {
        Self::Protocol(what.into())
    }

    /// A stable code: `unreachable`, `timeout`, `protocol_error`, `invalid_request`.
    pub fn code(&self) -> sipauth::ErrorCode {
        match self {
            Self::Unreachable(_) => sipauth::ErrorCode::Unreachable,
            Self::Timeout(_) => sipauth::ErrorCode::Timeout,
            Self::Protocol(_) => sipauth::ErrorCode::ProtocolError,
            Self::Config(_) => sipauth::ErrorCode::InvalidRequest,
        }
    }
}
