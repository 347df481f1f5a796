//! What a session shows: its [`AuthState`], the [`SessionSnapshot`] of everything observable,
//! the [`SessionEvent`]s it emits (the guide's callbacks), why it ended ([`LogoutReason`]) and its
//! failures as a UI shows them ([`SessionError`]). Plain data; the session updates it.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::oidc::{TokenSet, UserInfo};
use crate::ProvisionedCredentials;

/// Where a session is (the guide's `OAuth2AuthState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthState {
    /// Nobody is signed in.
    #[default]
    Idle,
    /// A sign-in was started; the user is at the provider.
    Redirecting,
    /// The callback arrived; the code is being exchanged.
    ExchangingCode,
    /// Fetching who signed in.
    FetchingUserInfo,
    /// Making SIP credentials.
    Provisioning,
    /// Signed in, with SIP credentials.
    Authenticated,
    /// Refreshing tokens.
    Refreshing,
    /// Something failed; see the snapshot's error.
    Error,
}

/// A failure, as the session shows it (cloneable, no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionError {
    /// The stable code (`invalid_state`, `invalid_grant`, ...).
    pub code: String,
    /// What happened.
    pub description: String,
}

impl From<&Error> for SessionError {
    fn from(e: &Error) -> Self {
        Self {
            code: e.code().to_string(),
            description: e.to_string(),
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogoutReason {
    /// `logout()` was called.
    UserInitiated,
    /// The access token expired and could not be refreshed.
    TokenExpired,
    /// The inactivity timeout ran out.
    SessionTimeout,
    /// A refresh finally failed while the access token was still valid.
    RefreshFailed,
    /// The identity provider signed the person out (OpenID Connect back-channel logout), and
    /// the provisioning service said so when the session provisioned again (`signed_out`).
    BackChannelLogout,
}

/// What happened (the guide's callbacks: onStateChange, onCredentialsProvisioned,
/// onTokensRefreshed, onError, onLogout).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SessionEvent {
    /// The state changed.
    StateChanged {
        /// The new state.
        new: AuthState,
        /// The previous state.
        old: AuthState,
    },
    /// New SIP credentials (sign-in, refresh with a token-derived password, re-provisioning).
    CredentialsProvisioned(Box<ProvisionedCredentials>),
    /// Tokens were refreshed.
    TokensRefreshed {
        /// The new access token's expiry.
        expires_at: Option<i64>,
    },
    /// Something failed.
    Error(SessionError),
    /// The session ended.
    Logout(LogoutReason),
}

/// Everything observable about a session at one moment.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SessionSnapshot {
    /// The state.
    pub state: AuthState,
    /// The last failure, until the next sign-in, clear or logout.
    pub error: Option<SessionError>,
    /// Who is signed in.
    pub user_info: Option<UserInfo>,
    /// Their SIP credentials.
    pub sip_credentials: Option<ProvisionedCredentials>,
    /// The tokens.
    pub tokens: Option<TokenSet>,
    /// When the access token expires (Unix seconds).
    pub token_expires_at: Option<i64>,
    /// True while a refresh runs.
    pub is_refreshing: bool,
    /// Bumped whenever the tokens change.
    pub generation: u64,
}

impl SessionSnapshot {
    /// True when signed in with credentials.
    pub fn is_authenticated(&self) -> bool {
        self.state == AuthState::Authenticated
    }
}
