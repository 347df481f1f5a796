//! From identity to SIP credentials: the guide's "SIP Credential Mapping" and "Password
//! Generation Strategies". [`CredentialMapping`] says how user info becomes a username, display
//! name, domain, WebSocket server and realm; [`PasswordStrategy`] how the password is made;
//! [`ProvisionedCredentials`] is the result, and [`client_config`] turns it into configurations
//! for SIP clients (JsSIP, SIP.js, baresip). Registering on a real SIP server is the
//! provisioning layer's job.

use sipauth_wire::ErrorCode;
pub mod client_config;
pub mod credentials;
pub mod mapping;
pub mod password;
pub mod username;

pub use credentials::ProvisionedCredentials;
pub use mapping::{CredentialMapping, DisplayNameRule, MappingInput, UsernameRule, ValueRule};
pub use password::{ApiMethod, HashAlgorithm, HmacAlgorithm, PasswordStrategy};
pub use username::UsernamePolicy;

/// The identity could not be turned into SIP credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// A username from this claim or transformer is empty, too long or invalid.
    #[error("cannot make a SIP username from {claim}: {reason}")]
    InvalidUsername {
        /// The claim name, or `username transformer`.
        claim: String,
        /// Why.
        reason: String,
    },
    /// A claim the mapping needs is absent from the user info.
    #[error("the user info has no {0} claim, which the credential mapping needs")]
    MissingClaim(String),
    /// A resolver produced nothing usable.
    #[error("the {field} resolver gave no usable value: {reason}")]
    Resolver {
        /// `sip_domain`, `ws_server_uri`, ...
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The SIP domain is not a host name.
    #[error("\"{0}\" is not a usable SIP domain")]
    InvalidDomain(String),
    /// `ws://` to a non-loopback host without explicit permission, or not a WebSocket URI.
    #[error("the WebSocket server {uri} must use wss:// (ws:// is allowed only on loopback, or when explicitly permitted)")]
    InsecureWebSocket {
        /// The URI.
        uri: String,
    },
    /// The username would come from an email the provider has not verified.
    #[error("the email claim is not verified (email_verified is not true), so it cannot name a SIP account; use another username claim, or allow unverified emails explicitly")]
    UnverifiedEmail,
    /// The `id_token` strategy without an ID token.
    #[error("the id_token password strategy needs an ID token, and the provider issued none")]
    IdTokenUnavailable,
    /// The password API answered with an error status.
    #[error("the password API {endpoint} answered HTTP {status}")]
    ApiStatus {
        /// The endpoint.
        endpoint: String,
        /// The status.
        status: u16,
    },
    /// The password API did not answer in time.
    #[error("the password API {endpoint} timed out")]
    ApiTimeout {
        /// The endpoint.
        endpoint: String,
    },
    /// The password API could not be reached.
    #[error("cannot reach the password API {endpoint}: {message}")]
    ApiUnreachable {
        /// The endpoint.
        endpoint: String,
        /// The transport error.
        message: String,
    },
    /// A strategy failed otherwise.
    #[error("password strategy failed: {0}")]
    Strategy(String),
}

impl CredentialError {
    pub(crate) fn code(&self) -> &'static str {
        match self {
            CredentialError::InvalidUsername { .. } => ErrorCode::InvalidUsername.as_str(),
            CredentialError::MissingClaim(_) => ErrorCode::MissingClaim.as_str(),
            CredentialError::Resolver { .. } => ErrorCode::ResolverFailed.as_str(),
            CredentialError::InvalidDomain(_) => ErrorCode::InvalidSipDomain.as_str(),
            CredentialError::InsecureWebSocket { .. } => ErrorCode::InsecureWebsocket.as_str(),
            CredentialError::IdTokenUnavailable => ErrorCode::IdTokenUnavailable.as_str(),
            CredentialError::UnverifiedEmail => ErrorCode::UnverifiedEmail.as_str(),
            CredentialError::ApiStatus { .. } => ErrorCode::PasswordApiFailed.as_str(),
            CredentialError::ApiTimeout { .. } => ErrorCode::PasswordApiTimeout.as_str(),
            CredentialError::ApiUnreachable { .. } => ErrorCode::PasswordApiUnreachable.as_str(),
            CredentialError::Strategy(_) => ErrorCode::PasswordStrategyFailed.as_str(),
        }
    }
}
