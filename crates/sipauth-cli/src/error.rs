//! The CLI's one error type and its exit codes, decided in one place. Scripts rely on them:
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | anything else (storage, internal) |
//! | 2 | bad command line (clap) |
//! | 3 | sign-in failed (refused, invalid callback, verification, credentials) |
//! | 4 | not signed in (or the session expired and cannot be refreshed) |
//! | 5 | configuration error |
//! | 6 | network error (provider unreachable, timeout) |

use sipauth::Error;

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

/// A failure, with its exit code and a one-line message (never a secret).
#[derive(Debug)]
pub struct CliError {
    code: u8,
    /// The one-line message.
    pub message: String,
}

impl CliError {
    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_CONFIG,
            message: message.into(),
        }
    }

    /// A failed sign-in.
    pub fn sign_in(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_SIGN_IN,
            message: message.into(),
        }
    }

    /// Not signed in.
    pub fn not_signed_in() -> Self {
        Self {
            code: EXIT_NOT_SIGNED_IN,
            message: "not signed in: run `sipauth login`".into(),
        }
    }

    /// Anything else.
    pub fn other(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_OTHER,
            message: message.into(),
        }
    }

    /// Classifies a library error.
    pub fn from_library(e: Error) -> Self {
        let code = match &e {
            Error::Transport(_) => EXIT_NETWORK,
            Error::Config(_) => EXIT_CONFIG,
            Error::Session(_) => EXIT_NOT_SIGNED_IN,
            Error::Storage(_) => EXIT_OTHER,
            _ => EXIT_SIGN_IN,
        };
        let message = format!("{} [{}]", e.to_string().replace('\n', " "), e.code());
        Self { code, message }
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
    }
}
