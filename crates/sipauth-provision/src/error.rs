//! [`ProvisionError`]: why an identity got no SIP credentials. The server crate turns each into
//! one HTTP answer with a stable code; nothing here carries a secret.

use sipauth_wire::ErrorCode;

/// Why provisioning failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// The policy refuses this identity (`access_denied`).
    #[error("access denied: {0}")]
    Denied(String),
    /// The account is disabled: by an operator, or by the policy when the identity stopped
    /// passing it (`account_disabled`).
    #[error("the SIP account {0} is disabled")]
    Disabled(String),
    /// The provider signed this person out (back-channel logout) after the token was issued,
    /// and that ended their SIP access (`signed_out`): a token issued after it provisions.
    #[error("the identity provider signed this person out after the token was issued")]
    SignedOut,
    /// The provider's directory deleted this person (`account_disabled`).
    #[error("the identity provider removed this person")]
    Removed,
    /// The change conflicts with what is stored (`conflict`).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The resource changed since it was read; read it again (`conflict`).
    #[error("the resource changed since it was read")]
    Stale,
    /// A value in the change is not acceptable (`invalid_request`).
    #[error("invalid value: {0}")]
    Invalid(String),
    /// The SIP domain or server this identity's claims give is not allowed, or differs from
    /// the one its account was made in (`domain_not_allowed`).
    #[error("{0}")]
    DomainNotAllowed(String),
    /// The person already has as many devices as allowed (`too_many_devices`).
    #[error("{0}")]
    TooManyDevices(String),
    /// No account for this identity or name.
    #[error("no such SIP account: {0}")]
    NotFound(String),
    /// No usable username can be made for this identity.
    #[error("cannot make a SIP username: {0}")]
    Username(String),
    /// The database failed or is unreachable (`temporarily_unavailable`).
    #[error("the database failed: {0}")]
    Database(String),
    /// A setting is wrong (secret file, database URL).
    #[error("configuration: {0}")]
    Config(String),
}

impl ProvisionError {
    /// The stable code for an answer (the one registry: [`ErrorCode`]).
    pub fn code(&self) -> ErrorCode {
        match self {
            ProvisionError::Denied(_) => ErrorCode::AccessDenied,
            ProvisionError::Disabled(_) | ProvisionError::Removed => ErrorCode::AccountDisabled,
            ProvisionError::SignedOut => ErrorCode::SignedOut,
            ProvisionError::Conflict(_) | ProvisionError::Stale => ErrorCode::Conflict,
            ProvisionError::Invalid(_) => ErrorCode::InvalidRequest,
            ProvisionError::NotFound(_) => ErrorCode::NotFound,
            ProvisionError::TooManyDevices(_) => ErrorCode::TooManyDevices,
            ProvisionError::DomainNotAllowed(_) => ErrorCode::DomainNotAllowed,
            ProvisionError::Username(_) => ErrorCode::InvalidUsername,
            ProvisionError::Database(_) => ErrorCode::TemporarilyUnavailable,
            ProvisionError::Config(_) => ErrorCode::ServerError,
        }
    }
}

impl From<sqlx::Error> for ProvisionError {
    fn from(e: sqlx::Error) -> Self {
        // sqlx's messages name the statement's problem, never bound values.
        ProvisionError::Database(e.to_string())
    }
}
