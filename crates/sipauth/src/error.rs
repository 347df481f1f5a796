//! The one error type of the client library, split by who is at fault: the provider refused
//! ([`ProviderError`]), the callback was wrong ([`CallbackError`]), the network failed
//! ([`TransportError`]), the provider's answer could not be used ([`ResponseError`]), our own
//! configuration is wrong ([`ConfigError`]), or a token failed verification
//! ([`VerificationError`]). Every error has a stable string [`Error::code`] matching the reference
//! guide's error table (`invalid_state`, `missing_code`, `access_denied`, `invalid_grant`, ...).
//!
//! No error message ever contains a token, secret, verifier or password: response bodies are kept
//! only as a [`RedactedBody`].

use crate::secret::CsrfState;
use sipauth_wire::ErrorCode;

/// Any failure of the client library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The provider answered with an OAuth2 error (at the callback or at an endpoint).
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The callback URL cannot complete a sign-in.
    #[error(transparent)]
    Callback(#[from] CallbackError),
    /// The provider could not be reached.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The provider answered, but not in a form we can use.
    #[error(transparent)]
    Response(#[from] ResponseError),
    /// Our configuration is invalid or unsafe.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A token or a claim failed verification.
    #[error(transparent)]
    Verification(#[from] VerificationError),
    /// The identity could not be turned into SIP credentials.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// Session storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The session cannot do this in its current state.
    #[error(transparent)]
    Session(#[from] SessionFailure),
}

/// The session cannot do what was asked in its current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionFailure {
    /// The provider refused the refresh token (revoked, expired, or rotated away): the session
    /// was ended and the user must sign in again. The code is the provider's (`invalid_grant`,
    /// as the guide checks for) or, for an answer without an OAuth2 error body,
    /// `token_exchange_failed`.
    #[error("the identity provider refused the refresh token ({code}{}): the session has ended; sign in again", if .description.is_empty() { String::new() } else { format!(": {}", .description) })]
    RefreshRefused {
        /// The provider's error code.
        code: String,
        /// What the provider said.
        description: String,
    },
    /// The stored session cannot be used (corrupt, or written by an unknown version); it was set
    /// aside, not deleted (`unreadable_session`).
    #[error("the stored session is unreadable ({reason}); it was moved aside{}; sign in again", .moved_to.as_ref().map(|p| format!(" to {p}")).unwrap_or_default())]
    UnreadableRecord {
        /// Why.
        reason: String,
        /// Where it was moved, when the store can say.
        moved_to: Option<String>,
    },
    /// Nobody is signed in (`not_authenticated`).
    #[error("not signed in")]
    NotAuthenticated,
    /// A refresh was asked for, and there is no refresh token (`no_refresh_token`).
    #[error("no refresh token: sign in again")]
    NoRefreshToken,
    /// The access token expired and cannot be refreshed (`token_expired`).
    #[error("the access token expired and there is no way to refresh it: sign in again")]
    TokenExpired,
    /// The stored session belongs to another provider or client than this session is
    /// configured for; it was left alone (`session_mismatch`): sign in here, or use the
    /// profile of that provider.
    #[error("the stored session was signed in at {provider} (client {client_id}), not here: sign in again, or use that provider's profile")]
    SessionMismatch {
        /// Where the stored session was signed in.
        provider: String,
        /// With which client.
        client_id: String,
    },
    /// As many sign-ins are pending as the store keeps; try again when some have ended or
    /// expired (`temporarily_unavailable`).
    #[error("too many sign-ins are pending; try again shortly")]
    TooManyPendingSignIns,
}

impl SessionFailure {
    fn code(&self) -> &str {
        match self {
            SessionFailure::RefreshRefused { code, .. } => code,
            SessionFailure::UnreadableRecord { .. } => ErrorCode::UnreadableSession.as_str(),
            SessionFailure::NotAuthenticated => ErrorCode::NotAuthenticated.as_str(),
            SessionFailure::NoRefreshToken => ErrorCode::NoRefreshToken.as_str(),
            SessionFailure::TokenExpired => ErrorCode::TokenExpired.as_str(),
            SessionFailure::SessionMismatch { .. } => ErrorCode::SessionMismatch.as_str(),
            SessionFailure::TooManyPendingSignIns => ErrorCode::TemporarilyUnavailable.as_str(),
        }
    }
}

impl Error {
    /// A stable, machine-readable code for this error.
    ///
    /// Provider errors keep the provider's own code (`access_denied`, `invalid_grant`, ...).
    pub fn code(&self) -> &str {
        match self {
            Error::Provider(e) => &e.error,
            Error::Callback(e) => e.code(),
            Error::Transport(e) => e.code(),
            Error::Response(e) => e.code(),
            Error::Config(e) => e.code(),
            Error::Verification(e) => e.code(),
            Error::Credentials(e) => e.code(),
            Error::Storage(_) => ErrorCode::StorageError.as_str(),
            Error::Session(e) => e.code(),
        }
    }

    /// True when a server could not be reached or did not answer in time: the provider (a
    /// [`TransportError`]) or the backend of the `api_generated` password strategy
    /// (`password_api_unreachable`, `password_api_timeout`). Retrying later may help; the
    /// command exits 6 for these.
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            Error::Transport(_)
                | Error::Credentials(
                    CredentialError::ApiUnreachable { .. } | CredentialError::ApiTimeout { .. }
                )
        )
    }

    /// True when the provider could not answer now (unreachable, timed out, or an HTTP 5xx or
    /// 429): a reason to try again later, never a verdict on the token or the request.
    pub fn is_temporary(&self) -> bool {
        let busy = |status: u16| status >= 500 || status == 429;
        self.is_network()
            || match self {
                Error::Provider(e) => e.status.is_some_and(busy),
                Error::Response(e) => busy(e.status),
                _ => false,
            }
    }

    /// The code as one of sipauth's own [`ErrorCode`]s; `None` for a provider's own code
    /// (`access_denied`, `invalid_grant`, ...), which [`code`](Self::code) passes through.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(self.code())
    }

    /// A human-readable description, when there is one beyond the code.
    pub fn description(&self) -> String {
        match self {
            Error::Provider(e) => e.description.clone().unwrap_or_else(|| e.to_string()),
            other => other.to_string(),
        }
    }
}

/// Which provider endpoint a failure happened at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// The authorization endpoint, as seen in the callback.
    Authorization,
    /// The token endpoint.
    Token,
    /// The userinfo endpoint (or GitHub's REST API).
    UserInfo,
    /// The revocation endpoint (RFC 7009).
    Revocation,
    /// The OpenID discovery document.
    Discovery,
    /// The JWKS document.
    Jwks,
    /// The device authorization endpoint (RFC 8628).
    DeviceAuthorization,
    /// The introspection endpoint (RFC 7662).
    Introspection,
    /// The backend of the `api_generated` password strategy.
    PasswordApi,
}

impl Endpoint {
    /// The largest response body accepted from this endpoint, in bytes. Discovery documents and
    /// key sets are small; token and userinfo answers may carry large ID tokens (Entra groups).
    pub fn body_limit(self) -> usize {
        match self {
            Endpoint::Discovery | Endpoint::Jwks => 512 * 1024,
            Endpoint::Token | Endpoint::UserInfo | Endpoint::Introspection => 1024 * 1024,
            Endpoint::Revocation | Endpoint::DeviceAuthorization => 64 * 1024,
            Endpoint::PasswordApi => 256 * 1024,
            Endpoint::Authorization => 64 * 1024,
        }
    }

    fn failed_code(self) -> &'static str {
        match self {
            Endpoint::Authorization => ErrorCode::AuthorizationFailed.as_str(),
            Endpoint::Token => ErrorCode::TokenExchangeFailed.as_str(),
            Endpoint::UserInfo => ErrorCode::UserinfoFailed.as_str(),
            Endpoint::Revocation => ErrorCode::RevocationFailed.as_str(),
            Endpoint::Discovery => ErrorCode::DiscoveryFailed.as_str(),
            Endpoint::Jwks => ErrorCode::JwksFailed.as_str(),
            Endpoint::DeviceAuthorization => ErrorCode::DeviceAuthorizationFailed.as_str(),
            Endpoint::Introspection => ErrorCode::IntrospectionFailed.as_str(),
            Endpoint::PasswordApi => ErrorCode::PasswordApiFailed.as_str(),
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Endpoint::Authorization => "authorization endpoint",
            Endpoint::Token => "token endpoint",
            Endpoint::UserInfo => "userinfo endpoint",
            Endpoint::Revocation => "revocation endpoint",
            Endpoint::Discovery => "discovery document",
            Endpoint::Jwks => "JWKS endpoint",
            Endpoint::DeviceAuthorization => "device authorization endpoint",
            Endpoint::Introspection => "introspection endpoint",
            Endpoint::PasswordApi => "password API",
        })
    }
}

/// An OAuth2 error response (RFC 6749 §4.1.2.1 and §5.2): the provider refused.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the identity provider refused at its {endpoint}: {error}{}", .description.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
#[non_exhaustive]
pub struct ProviderError {
    /// Where the provider said it.
    pub endpoint: Endpoint,
    /// The provider's error code, e.g. `access_denied`, `invalid_grant`.
    pub error: String,
    /// The provider's `error_description`.
    pub description: Option<String>,
    /// The provider's `error_uri`.
    pub uri: Option<String>,
    /// The `state` that came back with a callback error.
    pub state: Option<CsrfState>,
    /// The HTTP status, for endpoint errors (GitHub answers some errors with 200).
    pub status: Option<u16>,
}

impl ProviderError {
    /// A provider error with just a code and description.
    pub fn new(endpoint: Endpoint, error: impl Into<String>, description: Option<String>) -> Self {
        Self {
            endpoint,
            error: error.into(),
            description,
            uri: None,
            state: None,
            status: None,
        }
    }
}

/// Why a `state` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateProblem {
    /// The callback carried no `state`.
    Missing,
    /// No pending sign-in has this state: tampered, from another client, or already used.
    Unknown,
    /// The pending sign-in existed but its time ran out.
    Expired,
}

impl StateProblem {
    fn describe(self) -> &'static str {
        match self {
            StateProblem::Missing => "the callback carries no state",
            StateProblem::Unknown => {
                "no sign-in in progress has this state (tampered, already used, or started elsewhere)"
            }
            StateProblem::Expired => "the sign-in it belongs to expired",
        }
    }
}

/// The callback URL cannot complete a sign-in.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// `state` missing, unknown, reused or expired (`invalid_state`).
    #[error("invalid state in the callback: {}; start the sign-in again", .0.describe())]
    InvalidState(StateProblem),
    /// No authorization code (`missing_code`).
    #[error("the callback has no authorization code; check the redirect URI")]
    MissingCode,
    /// RFC 9207: the `iss` parameter is missing or names another issuer (`issuer_mismatch`).
    #[error("{}", match .got { Some(got) => format!("the callback's iss parameter names {got}, not the expected issuer {expected}"), None => format!("the callback has no iss parameter, although the issuer {expected} promises one (RFC 9207)") })]
    IssuerMismatch {
        /// The issuer we talk to.
        expected: String,
        /// What the callback said.
        got: Option<String>,
    },
    /// The callback did not arrive at our redirect URI (`redirect_mismatch`).
    #[error("the callback arrived at {got}, not at the redirect URI {expected}")]
    RedirectMismatch {
        /// The configured redirect URI.
        expected: String,
        /// Where the callback arrived (without its query).
        got: String,
    },
    /// The callback is not a usable absolute URL (`invalid_callback`).
    #[error("the callback URL is malformed: {0}")]
    Malformed(String),
}

impl CallbackError {
    fn code(&self) -> &'static str {
        match self {
            CallbackError::InvalidState(_) => ErrorCode::InvalidState.as_str(),
            CallbackError::MissingCode => ErrorCode::MissingCode.as_str(),
            CallbackError::IssuerMismatch { .. } => ErrorCode::IssuerMismatch.as_str(),
            CallbackError::RedirectMismatch { .. } => ErrorCode::RedirectMismatch.as_str(),
            CallbackError::Malformed(_) => ErrorCode::InvalidCallback.as_str(),
        }
    }
}

/// The provider could not be reached or did not answer in time.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach the {endpoint} at {url}: {message}")]
#[non_exhaustive]
pub struct TransportError {
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// Its URL.
    pub url: String,
    /// True when the request timed out.
    pub timed_out: bool,
    /// What the HTTP client said (never includes request bodies).
    pub message: String,
}

impl TransportError {
    fn code(&self) -> &'static str {
        if self.timed_out {
            ErrorCode::Timeout.as_str()
        } else {
            ErrorCode::NetworkError.as_str()
        }
    }
}

/// The provider answered, but the answer is unusable: a non-success status without an OAuth2
/// error body, or a body that does not parse.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unusable answer from the {endpoint} (HTTP {status}): {reason}; body: {body}")]
#[non_exhaustive]
pub struct ResponseError {
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// The HTTP status.
    pub status: u16,
    /// What was wrong.
    pub reason: String,
    /// The body, with anything secret-looking removed.
    pub body: RedactedBody,
    /// True when the body passed the endpoint's size limit (`response_too_large`); nothing of
    /// it was kept.
    pub too_large: bool,
}

impl ResponseError {
    fn code(&self) -> &'static str {
        if self.too_large {
            ErrorCode::ResponseTooLarge.as_str()
        } else {
            self.endpoint.failed_code()
        }
    }
}

/// Our configuration is invalid or unsafe.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A URL that must be HTTPS is not, and its host is not loopback.
    #[error("{field} must use https (plain http is allowed only for loopback hosts): {url}")]
    InsecureUrl {
        /// Which setting.
        field: &'static str,
        /// The URL given.
        url: String,
    },
    /// A value that must be a URL is not.
    #[error("{field} is not a valid URL ({value}): {reason}")]
    InvalidUrl {
        /// Which setting.
        field: &'static str,
        /// The value given.
        value: String,
        /// Why.
        reason: String,
    },
    /// A setting the chosen flow needs is missing.
    #[error("{0} is required but not configured")]
    Missing(&'static str),
    /// `additional_params` tried to set a parameter the library owns.
    #[error("additional parameter \"{0}\" may not be set: sipauth sets it itself")]
    ReservedParameter(String),
    /// An unsupported or invalid value.
    #[error("{field} has an unsupported value \"{value}\": {reason}")]
    Unsupported {
        /// Which setting.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is supported.
        reason: String,
    },
    /// The discovery document names a different issuer than the one asked for.
    #[error("the discovery document at {url} names issuer {got}, not {expected}")]
    DiscoveryIssuerMismatch {
        /// The issuer we asked about.
        expected: String,
        /// What the document says.
        got: String,
        /// The document's URL.
        url: String,
    },
}

impl ConfigError {
    fn code(&self) -> &'static str {
        match self {
            ConfigError::InsecureUrl { .. } => ErrorCode::InsecureUrl.as_str(),
            ConfigError::InvalidUrl { .. } => ErrorCode::InvalidUrl.as_str(),
            ConfigError::Missing(_) => ErrorCode::MissingConfiguration.as_str(),
            ConfigError::ReservedParameter(_) => ErrorCode::ReservedParameter.as_str(),
            ConfigError::Unsupported { .. } => ErrorCode::UnsupportedConfiguration.as_str(),
            ConfigError::DiscoveryIssuerMismatch { .. } => {
                ErrorCode::DiscoveryIssuerMismatch.as_str()
            }
        }
    }
}

/// A token or claim failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerificationError {
    /// The provider sent no ID token although `openid` was requested.
    #[error("the token response has no id_token although the openid scope was requested")]
    MissingIdToken,
    /// The ID token is not a well-formed JWT.
    #[error("the ID token is malformed: {0}")]
    Malformed(String),
    /// The ID token's algorithm is not allowed (e.g. `none`, or HMAC for a public client).
    #[error("the ID token algorithm {0} is not allowed")]
    AlgorithmNotAllowed(String),
    /// No key in the provider's JWKS matches the ID token (after the one allowed refetch).
    #[error("{}", match .kid { Some(kid) => format!("no signing key with kid \"{kid}\" in the provider's JWKS"), None => "no matching signing key in the provider's JWKS".to_string() })]
    UnknownSigningKey {
        /// The `kid` from the token header.
        kid: Option<String>,
    },
    /// The JWT header lists critical extensions (`crit`), which sipauth does not implement
    /// (RFC 7515 §4.1.11: such a token MUST be rejected).
    #[error("the token's header lists critical extensions {0}, which are not supported")]
    UnsupportedCritical(String),
    /// The JWT header's `typ` says it is not an ID token (an RFC 9068 `at+jwt` access token).
    #[error("the token is typed \"{0}\", not an ID token (JWT)")]
    WrongTokenType(String),
    /// Introspection says the token is not active (revoked, expired, unknown).
    #[error("the token is not active at its issuer")]
    InactiveToken,
    /// The signing key is an RSA key under 2048 bits (RFC 7518 §3.3).
    #[error("the signing key is a {0}-bit RSA key; at least 2048 bits are required")]
    WeakKey(usize),
    /// The signature does not verify.
    #[error("the ID token signature is invalid")]
    BadSignature,
    /// `iss` is not the provider's issuer.
    #[error("the ID token issuer {got} is not {expected}")]
    IssuerMismatch {
        /// The expected issuer.
        expected: String,
        /// The token's `iss`.
        got: String,
    },
    /// The tenant of an Entra ID token is not in the allow list.
    #[error("the ID token's tenant {0} is not allowed")]
    TenantNotAllowed(String),
    /// `aud` does not contain our client id.
    #[error("the ID token audience does not include this client")]
    AudienceMismatch,
    /// `azp` is missing (several audiences) or is not our client id.
    #[error("the ID token's authorized party (azp) is missing or is not this client")]
    AuthorizedPartyMismatch,
    /// `exp` is in the past (beyond the leeway).
    #[error("the ID token expired at {exp} (now {now}, leeway {leeway}s)")]
    Expired {
        /// The token's `exp`.
        exp: i64,
        /// Our clock.
        now: i64,
        /// The allowed skew.
        leeway: i64,
    },
    /// `iat` is in the future (beyond the leeway) or missing.
    #[error("the ID token's issue time is missing or in the future")]
    IssuedInFuture,
    /// `nbf` is in the future (beyond the leeway).
    #[error("the ID token is not valid yet")]
    NotYetValid,
    /// `nonce` is missing or does not match the sign-in's nonce.
    #[error("the ID token nonce does not match this sign-in")]
    NonceMismatch,
    /// A required claim is missing.
    #[error("the {0} claim is missing")]
    MissingClaim(&'static str),
    /// A logout token is not one (Back-Channel Logout 1.0 §2.6): why.
    #[error("not a valid logout token: {0}")]
    InvalidLogoutToken(&'static str),
    /// Userinfo's `sub` differs from the ID token's.
    #[error("the userinfo subject does not match the ID token subject")]
    SubjectMismatch,
}

impl VerificationError {
    fn code(&self) -> &'static str {
        match self {
            VerificationError::MissingIdToken => ErrorCode::MissingIdToken.as_str(),
            VerificationError::Malformed(_) => ErrorCode::InvalidIdToken.as_str(),
            VerificationError::AlgorithmNotAllowed(_) => {
                ErrorCode::IdTokenAlgorithmNotAllowed.as_str()
            }
            VerificationError::UnknownSigningKey { .. } => ErrorCode::UnknownSigningKey.as_str(),
            VerificationError::BadSignature => ErrorCode::InvalidSignature.as_str(),
            VerificationError::UnsupportedCritical(_) => {
                ErrorCode::UnsupportedCriticalHeader.as_str()
            }
            VerificationError::WrongTokenType(_) => ErrorCode::InvalidTokenType.as_str(),
            VerificationError::WeakKey(_) => ErrorCode::WeakSigningKey.as_str(),
            VerificationError::InactiveToken => ErrorCode::InactiveToken.as_str(),
            VerificationError::IssuerMismatch { .. } => ErrorCode::InvalidIssuer.as_str(),
            VerificationError::TenantNotAllowed(_) => ErrorCode::TenantNotAllowed.as_str(),
            VerificationError::AudienceMismatch => ErrorCode::InvalidAudience.as_str(),
            VerificationError::AuthorizedPartyMismatch => ErrorCode::InvalidAzp.as_str(),
            VerificationError::Expired { .. } => ErrorCode::IdTokenExpired.as_str(),
            VerificationError::IssuedInFuture => ErrorCode::InvalidIat.as_str(),
            VerificationError::NotYetValid => ErrorCode::IdTokenNotYetValid.as_str(),
            VerificationError::NonceMismatch => ErrorCode::InvalidNonce.as_str(),
            VerificationError::MissingClaim(_) => ErrorCode::MissingClaim.as_str(),
            VerificationError::InvalidLogoutToken(_) => ErrorCode::InvalidLogoutToken.as_str(),
            VerificationError::SubjectMismatch => ErrorCode::SubjectMismatch.as_str(),
        }
    }
}

/// A response body kept for diagnosis, with the values of secret-bearing fields replaced by
/// `[redacted]` and the length capped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactedBody(String);

const SECRET_FIELDS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "code",
    "device_code",
    "code_verifier",
    "password",
    "sipPassword",
    "token",
];
const MAX_BODY: usize = 1024;

impl RedactedBody {
    /// Redacts a raw body: JSON objects and form-encoded bodies field by field; anything else that
    /// mentions a secret field name is withheld entirely.
    pub fn new(raw: &[u8]) -> Self {
        let text = String::from_utf8_lossy(raw);
        let redacted = if let Ok(serde_json::Value::Object(mut map)) =
            serde_json::from_str::<serde_json::Value>(&text)
        {
            for field in SECRET_FIELDS {
                if let Some(v) = map.get_mut(*field) {
                    *v = serde_json::Value::String("[redacted]".into());
                }
            }
            serde_json::Value::Object(map).to_string()
        } else if looks_form_encoded(&text) {
            url::form_urlencoded::parse(text.as_bytes())
                .map(|(k, v)| {
                    let v = if SECRET_FIELDS.contains(&k.as_ref()) {
                        "[redacted]".into()
                    } else {
                        v
                    };
                    format!("{k}={v}")
                })
                .collect::<Vec<_>>()
                .join("&")
        } else if SECRET_FIELDS.iter().any(|f| text.contains(f)) {
            "[withheld: may contain secrets]".to_string()
        } else {
            text.into_owned()
        };
        let mut out: String = redacted.chars().take(MAX_BODY).collect();
        if out.len() < redacted.len() {
            out.push_str("...");
        }
        Self(out)
    }

    /// The redacted text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn looks_form_encoded(text: &str) -> bool {
    !text.is_empty()
        && text.contains('=')
        && !text.contains(char::is_whitespace)
        && !text.starts_with('<')
        && !text.starts_with('{')
}

impl std::fmt::Display for RedactedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("(empty)")
        } else {
            f.write_str(&self.0)
        }
    }
}

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
    /// A realm or digest username (from a password API) cannot go into a SIP header.
    #[error("the {field} is not usable in a SIP header: {reason}")]
    InvalidSipValue {
        /// `realm` or `authorizationUsername`.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// `ws://` to a non-loopback host without explicit permission, or not a WebSocket URI.
    #[error("the WebSocket server {uri} must use wss:// (ws:// is allowed only on loopback, or when explicitly permitted)")]
    InsecureWebSocket {
        /// The URI.
        uri: String,
    },
    /// The username would come from an email the provider has not verified.
    #[error("the email claim is not verified (email_verified is not true), so it cannot name a SIP account; name accounts by another claim (the command's --username-claim preferred_username or sub), or leave --username-claim unset so the next claim names it")]
    UnverifiedEmail,
    /// The `id_token` strategy without an ID token.
    #[error("the id_token password strategy needs an ID token, and the provider issued none")]
    IdTokenUnavailable,
    /// The password API answered with an error status.
    #[error("the password API {endpoint} answered HTTP {status}{}", refusal_suffix(*.refusal))]
    ApiStatus {
        /// The endpoint.
        endpoint: String,
        /// The status.
        status: u16,
        /// The service's own code for the answer, when it is one of sipauth's
        /// (`signed_out`, `account_disabled`, ...: `sipauth serve` answers
        /// `{"error": CODE}`); `None` for another backend's or an unreadable body.
        refusal: Option<ErrorCode>,
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

fn refusal_suffix(code: Option<ErrorCode>) -> String {
    code.map(|c| format!(" ({c})")).unwrap_or_default()
}

impl CredentialError {
    pub(crate) fn code(&self) -> &'static str {
        match self {
            CredentialError::InvalidUsername { .. } => ErrorCode::InvalidUsername.as_str(),
            CredentialError::MissingClaim(_) => ErrorCode::MissingClaim.as_str(),
            CredentialError::Resolver { .. } => ErrorCode::ResolverFailed.as_str(),
            CredentialError::InvalidDomain(_) => ErrorCode::InvalidSipDomain.as_str(),
            CredentialError::InvalidSipValue { .. } => ErrorCode::InvalidSipValue.as_str(),
            CredentialError::InsecureWebSocket { .. } => ErrorCode::InsecureWebsocket.as_str(),
            CredentialError::IdTokenUnavailable => ErrorCode::IdTokenUnavailable.as_str(),
            CredentialError::UnverifiedEmail => ErrorCode::UnverifiedEmail.as_str(),
            // The service's refusals of the person keep their code (a UI explains it, a
            // session ends on `signed_out`); anything else is the API failing.
            CredentialError::ApiStatus {
                refusal:
                    Some(
                        code @ (ErrorCode::SignedOut
                        | ErrorCode::AccountDisabled
                        | ErrorCode::AccessDenied
                        | ErrorCode::DomainNotAllowed),
                    ),
                ..
            } => code.as_str(),
            CredentialError::ApiStatus { .. } => ErrorCode::PasswordApiFailed.as_str(),
            CredentialError::ApiTimeout { .. } => ErrorCode::PasswordApiTimeout.as_str(),
            CredentialError::ApiUnreachable { .. } => ErrorCode::PasswordApiUnreachable.as_str(),
            CredentialError::Strategy(_) => ErrorCode::PasswordStrategyFailed.as_str(),
        }
    }
}

/// A storage failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("session storage failed ({what}): {message}")]
#[non_exhaustive]
pub struct StorageError {
    /// What was being done, with the path or key.
    pub what: String,
    /// The cause.
    pub message: String,
}

impl StorageError {
    pub(crate) fn new(what: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self {
            what: what.into(),
            message: message.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_json_and_form_secrets() {
        let json = RedactedBody::new(br#"{"access_token":"AT123","token_type":"bearer","x":1}"#);
        assert!(!json.as_str().contains("AT123"));
        assert!(json.as_str().contains("bearer"));
        let form = RedactedBody::new(b"access_token=AT123&scope=repo&token_type=bearer");
        assert_eq!(
            form.as_str(),
            "access_token=[redacted]&scope=repo&token_type=bearer"
        );
        let text = RedactedBody::new(b"<html>refresh_token RT999</html>");
        assert!(!text.as_str().contains("RT999"));
        let plain = RedactedBody::new(b"Service Unavailable");
        assert_eq!(plain.as_str(), "Service Unavailable");
    }

    #[test]
    fn caps_long_bodies() {
        let long = "x ".repeat(5000);
        let body = RedactedBody::new(long.as_bytes());
        assert!(body.as_str().len() <= MAX_BODY + 3);
    }

    #[test]
    fn codes_follow_the_guide() {
        assert_eq!(
            Error::from(CallbackError::InvalidState(StateProblem::Unknown)).code(),
            "invalid_state"
        );
        assert_eq!(
            Error::from(CallbackError::MissingCode).code(),
            "missing_code"
        );
        let denied = ProviderError::new(Endpoint::Authorization, "access_denied", None);
        assert_eq!(Error::from(denied).code(), "access_denied");
        let bad = ResponseError {
            endpoint: Endpoint::Token,
            status: 502,
            reason: "x".into(),
            body: RedactedBody::new(b""),
            too_large: false,
        };
        assert_eq!(Error::from(bad).code(), "token_exchange_failed");
    }
}
