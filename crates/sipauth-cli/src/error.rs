//! The CLI's one error type and its exit codes, decided in one place. Scripts rely on them:
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | anything else (storage, internal) |
//! | 2 | bad command line (clap) |
//! | 3 | sign-in failed (refused, invalid callback, verification, credentials) |
//! | 4 | not signed in (or the session ended: expired, refresh refused, unreadable record) |
//! | 5 | configuration error |
//! | 6 | network error (provider or password API unreachable, timeout) |
//! | 7 | signed out locally, but the provider refused or could not be reached to revoke |
//! | 8 | `sipauth admin`: no such account |
//! | 9 | `sipauth register-check`: the SIP server refused the credentials |
//! | 10 | `sipauth register-check`: the SIP server's answer was not usable SIP |
//! | 130 | cancelled (Ctrl-C) |
//!
//! [`exit_code_for`] is the one place that turns a library error into an exit code. The codes
//! `--json` prints come from the one registry, [`ErrorCode`] (a provider's own codes pass
//! through as it sent them).

use sipauth::{Error, ErrorCode};

/// Success.
pub const EXIT_OK: u8 = 0;
/// Anything else.
pub const EXIT_OTHER: u8 = 1;
/// The sign-in failed.
pub const EXIT_SIGN_IN: u8 = 3;
/// Not signed in.
pub const EXIT_NOT_SIGNED_IN: u8 = 4;
/// Configuration error.
pub const EXIT_CONFIG: u8 = 5;
/// Network error.
pub const EXIT_NETWORK: u8 = 6;
/// Signed out locally; revocation at the provider failed.
pub const EXIT_REVOCATION: u8 = 7;
/// Cancelled by Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_CANCELLED: u8 = 130;
/// `sipauth admin`: no such account.
pub const EXIT_NOT_FOUND: u8 = 8;
/// `sipauth register-check`: the SIP server refused the credentials (401, 403, 404, ...).
pub const EXIT_SIP_REFUSED: u8 = 9;
/// `sipauth register-check`: the SIP server's answer was not usable SIP.
pub const EXIT_SIP_PROTOCOL: u8 = 10;

/// The exit code for a library error, decided by its fault and code.
pub fn exit_code_for(e: &Error) -> u8 {
    match e {
        // The provider, or the password API: a server we could not reach.
        e if e.is_network() => EXIT_NETWORK,
        // The provider's document contradicts the issuer asked for: found by a request, a
        // sign-in failure (the README reserves 5 for what is wrong before any request).
        Error::Config(sipauth::ConfigError::DiscoveryIssuerMismatch { .. }) => EXIT_SIGN_IN,
        Error::Config(_) => EXIT_CONFIG,
        Error::Session(_) => EXIT_NOT_SIGNED_IN,
        // The service says the provider signed the person out: sign in again.
        e if e.error_code() == Some(ErrorCode::SignedOut) => EXIT_NOT_SIGNED_IN,
        Error::Storage(_) => EXIT_OTHER,
        Error::Credentials(sipauth::CredentialError::InsecureWebSocket { .. }) => EXIT_CONFIG,
        _ => EXIT_SIGN_IN,
    }
}

/// A failure, with its exit code and a one-line message (never a secret).
#[derive(Debug)]
pub struct CliError {
    code: u8,
    /// The one-line message.
    pub message: String,
    /// The stable error code for `--json` (`invalid_state`, `not_authenticated`, ...).
    pub error: String,
    /// What did happen despite the failure, for `--json` (logout: signed out locally).
    pub outcome: Option<serde_json::Value>,
}

impl CliError {
    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(EXIT_CONFIG, ErrorCode::ConfigurationError.as_str(), message)
    }

    /// A failed sign-in.
    pub fn sign_in(message: impl Into<String>) -> Self {
        Self::new(EXIT_SIGN_IN, ErrorCode::SignInFailed.as_str(), message)
    }

    /// Not signed in.
    pub fn not_signed_in() -> Self {
        Self::new(
            EXIT_NOT_SIGNED_IN,
            ErrorCode::NotAuthenticated.as_str(),
            "not signed in: run `sipauth login`",
        )
    }

    /// Cancelled by Ctrl-C.
    pub fn cancelled() -> Self {
        Self::new(
            EXIT_CANCELLED,
            ErrorCode::Cancelled.as_str(),
            "cancelled (Ctrl-C)",
        )
    }

    /// A timeout of the command's own (`login --timeout`).
    pub fn timed_out(message: impl Into<String>) -> Self {
        Self::new(EXIT_NETWORK, ErrorCode::Timeout.as_str(), message)
    }

    /// Anything else.
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(EXIT_OTHER, ErrorCode::Error.as_str(), message)
    }

    /// A failure with an explicit exit code and error code.
    pub fn new(code: u8, error: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            error: error.into(),
            outcome: None,
        }
    }

    /// Classifies a library error.
    pub fn from_library(e: Error) -> Self {
        let message = format!("{} [{}]", e.to_string().replace('\n', " "), e.code());
        Self::new(exit_code_for(&e), e.code(), message)
    }

    /// The `--json` document for this failure: the API error body's `error` and
    /// `error_description`, the exit code, and whatever did happen.
    pub fn json(&self) -> serde_json::Value {
        let body = sipauth_wire::ApiError::new(&self.error, crate::output::sanitize(&self.message));
        let mut doc = serde_json::to_value(body).unwrap_or_default();
        if let Some(map) = doc.as_object_mut() {
            map.insert("exitCode".into(), self.code.into());
        }
        if let (Some(map), Some(serde_json::Value::Object(outcome))) =
            (doc.as_object_mut(), &self.outcome)
        {
            for (k, v) in outcome {
                map.insert(k.clone(), v.clone());
            }
        }
        doc
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        self.code
    }
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        Self::from_library(e)
    }
}

impl From<sipauth::ConfigError> for CliError {
    fn from(e: sipauth::ConfigError) -> Self {
        Self::from_library(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipauth::{CallbackError, ConfigError, SessionFailure};

    #[test]
    fn library_errors_map_to_documented_codes() {
        assert_eq!(
            CliError::from(Error::from(SessionFailure::NotAuthenticated)).exit_code(),
            4
        );
        assert_eq!(
            CliError::from(Error::from(ConfigError::Missing("x"))).exit_code(),
            5
        );
        assert_eq!(
            CliError::from(Error::from(CallbackError::MissingCode)).exit_code(),
            3
        );
        let e = CliError::from(Error::from(CallbackError::MissingCode));
        assert!(e.message.ends_with("[missing_code]"));
        assert!(!e.message.contains('\n'));
        assert_eq!(e.json()["error"], "missing_code");
        assert_eq!(e.json()["exitCode"], 3);
    }

    #[test]
    fn a_refused_refresh_is_not_signed_in_and_keeps_the_providers_code() {
        let e = CliError::from(Error::from(SessionFailure::RefreshRefused {
            code: "invalid_grant".into(),
            description: "grant request is invalid".into(),
        }));
        assert_eq!(e.exit_code(), EXIT_NOT_SIGNED_IN);
        assert_eq!(e.error, "invalid_grant");
        assert!(e.message.contains("sign in again"), "{}", e.message);
    }

    #[test]
    fn an_unreachable_password_api_is_a_network_error() {
        let e = CliError::from(Error::from(sipauth::CredentialError::ApiUnreachable {
            endpoint: "http://127.0.0.1:9/api".into(),
            message: "connection refused".into(),
        }));
        assert_eq!(e.exit_code(), EXIT_NETWORK);
    }

    #[test]
    fn signed_out_by_the_provider_is_not_signed_in_with_the_services_code() {
        let refused = |refusal| {
            CliError::from(Error::from(sipauth::CredentialError::ApiStatus {
                endpoint: "http://127.0.0.1:9/api".into(),
                status: 401,
                refusal,
            }))
        };
        let e = refused(Some(ErrorCode::SignedOut));
        assert_eq!(
            (e.exit_code(), e.error.as_str()),
            (EXIT_NOT_SIGNED_IN, "signed_out")
        );
        let e = refused(None);
        assert_eq!(
            (e.exit_code(), e.error.as_str()),
            (EXIT_SIGN_IN, "password_api_failed")
        );
    }
}
