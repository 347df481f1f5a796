//! # sipauth-wire: the JSON sipauth speaks
//!
//! One definition of every document that crosses a process boundary, shared by the client library
//! (its `api` password strategy), the `sipauth` command (`--json` output), the provisioning
//! service (`POST /api/sip/provision`) and the browser bindings. serde only: it compiles
//! everywhere, wasm32 included. What the values mean, and how they are made, is the library's
//! business; this crate only fixes their names and shapes.
//!
//! - [`ProvisionRequest`] / [`ProvisionResponse`]: the provisioning API (the guide's
//!   `api_generated` strategy and its backend example, camelCase names).
//! - [`SipCredentials`]: the credentials JSON the command prints and a UI shows.
//! - [`ApiError`] and [`ErrorCode`]: every error body, with sipauth's stable codes.
//! - [`SessionView`]: the session snapshot a UI shows (no tokens).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of `POST /api/sip/provision`: `{"userInfo": ...}`. A service must ignore it for
/// identity (identity comes only from the verified bearer token); it is sent for compatibility
/// with the guide's backend example.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProvisionRequest {
    /// The claims the client saw: an object (or `null`), as the document says.
    #[serde(rename = "userInfo", default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub user_info: Option<serde_json::Map<String, Value>>,
    /// The device this provision is for, with credentials per device (`{"name": "Alice's
    /// iPhone"}`): the same name gets the same credentials again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceName>,
}

/// A device as a provision names it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceName {
    /// Its name (1 to 64 characters).
    pub name: String,
}

/// `GET /api/sip/devices`: the caller's devices, oldest first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    /// The devices.
    pub devices: Vec<DeviceInfo>,
}

/// One device with its own credentials.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    /// Its id (for `DELETE /api/sip/devices/{id}`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its digest username (`<username>~<tag>`).
    pub authorization_username: String,
    /// When it was first provisioned (Unix seconds).
    pub created_at: i64,
    /// When it was last provisioned (Unix seconds).
    pub last_provisioned_at: i64,
    /// The user agent that provisioned it last, when known.
    pub user_agent: Option<String>,
}

impl ProvisionRequest {
    /// The one rule for a `POST /api/sip/provision` body: none (empty or whitespace), `null`
    /// (the document's optional body), or a JSON object of this shape. Anything else (an array,
    /// which serde would also read a struct from, a number, a `userInfo` that is not an object)
    /// is refused with the reason.
    pub fn from_body(bytes: &[u8]) -> Result<Option<Self>, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        match serde_json::from_slice::<Value>(bytes).map_err(|e| e.to_string())? {
            Value::Null => Ok(None),
            body @ Value::Object(_) => serde_json::from_value(body)
                .map(Some)
                .map_err(|e| e.to_string()),
            _ => Err("not a JSON object".into()),
        }
    }
}

/// The answer of the provisioning API. A client takes `password` (or the guide's `sipPassword`)
/// and whatever else is present; everything but the password is optional, so any backend
/// following the guide's example is understood.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionResponse {
    /// The SIP username (user part).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The SIP password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The same value, as the guide's backend example names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_password: Option<String>,
    /// `sip:user@domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_uri: Option<String>,
    /// The SIP domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_domain: Option<String>,
    /// The WebSocket server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws_server_uri: Option<String>,
    /// The digest realm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// The digest username (`<expiry>:<user>` for Kamailio auth_ephemeral).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_username: Option<String>,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// When the password stops working (Unix seconds); absent or null: it does not expire.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// The registrar for native (non-WebSocket) clients, `sip:host:port;transport=udp|tcp|tls`.
    #[serde(default)]
    pub sip_server: Option<String>,
    /// The call rights the SIP server enforces for this account (`outbound`,
    /// `international`, ...), when the service maps any; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rights: Option<Vec<String>>,
}

impl ProvisionResponse {
    /// The password: `password`, else `sipPassword`; empty values count as absent.
    pub fn password(&self) -> Option<&str> {
        [&self.password, &self.sip_password]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .find(|p| !p.is_empty())
    }
}

/// SIP credentials as the command prints them (`sipauth credentials --json`, `login --json`) and
/// a UI shows them. Keys are camelCase; `user` holds the verified claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SipCredentials {
    /// `sip:<escaped user>@<domain>`.
    pub sip_uri: String,
    /// The SIP username.
    pub username: String,
    /// The SIP password.
    pub password: String,
    /// The display name.
    pub display_name: String,
    /// The SIP domain.
    pub sip_domain: String,
    /// The WebSocket server.
    pub ws_server_uri: String,
    /// The digest realm.
    pub realm: String,
    /// The digest username.
    pub authorization_username: String,
    /// The registrar for native (non-WebSocket) clients, `sip:host:port;transport=…`; null
    /// when the provisioning service named none.
    #[serde(default)]
    pub sip_server: Option<String>,
    /// When the password stops working (Unix seconds); absent: it does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The call rights the SIP server enforces (`outbound`, ...); absent when the
    /// provisioning service maps none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rights: Option<Vec<String>>,
    /// Who they belong to: the verified claims.
    pub user: Value,
}

/// An error body: `{"error": CODE, "error_description": TEXT}` (RFC 6749 §5.2 names), used by
/// the service for every error answer and by the command's `--json` failure documents.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// The stable code (an [`ErrorCode`], or a provider's own code passed through).
    pub error: String,
    /// What happened, for people. Never a token, secret or stack trace.
    pub error_description: String,
}

impl ApiError {
    /// An error body.
    pub fn new(error: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            error_description: description.into(),
        }
    }
}

macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident => $code:literal,)*) => {
        /// sipauth's stable error codes (the guide's table, plus sipauth's own). A provider's own
        /// codes (`access_denied`, `invalid_grant`, ...) are passed through as strings; the ones
        /// listed here are those sipauth itself decides.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$doc])* $name,)*
        }

        impl ErrorCode {
            /// Every code, for documentation and exhaustive tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The code as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => $code,)*
                }
            }

            /// The code for a wire string, when it is one of sipauth's.
            pub fn parse(code: &str) -> Option<Self> {
                match code {
                    $($code => Some(ErrorCode::$name),)*
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    /// `state` missing, unknown, reused or expired.
    InvalidState => "invalid_state",
    /// The callback has no authorization code.
    MissingCode => "missing_code",
    /// RFC 9207 `iss` missing or wrong.
    IssuerMismatch => "issuer_mismatch",
    /// The callback arrived elsewhere than the redirect URI.
    RedirectMismatch => "redirect_mismatch",
    /// The callback URL is malformed.
    InvalidCallback => "invalid_callback",
    /// Network failure.
    NetworkError => "network_error",
    /// A request timed out.
    Timeout => "timeout",
    /// A response body passed its size limit.
    ResponseTooLarge => "response_too_large",
    /// Unusable answer from the authorization endpoint.
    AuthorizationFailed => "authorization_failed",
    /// Unusable answer from the token endpoint.
    TokenExchangeFailed => "token_exchange_failed",
    /// Unusable answer from the userinfo endpoint.
    UserinfoFailed => "userinfo_failed",
    /// Unusable answer from the revocation endpoint.
    RevocationFailed => "revocation_failed",
    /// Unusable discovery document.
    DiscoveryFailed => "discovery_failed",
    /// Unusable key set.
    JwksFailed => "jwks_failed",
    /// Unusable device authorization answer.
    DeviceAuthorizationFailed => "device_authorization_failed",
    /// Unusable introspection answer.
    IntrospectionFailed => "introspection_failed",
    /// The password API answered with an error status.
    PasswordApiFailed => "password_api_failed",
    /// The password API did not answer in time.
    PasswordApiTimeout => "password_api_timeout",
    /// The password API could not be reached.
    PasswordApiUnreachable => "password_api_unreachable",
    /// A URL that must be HTTPS is not.
    InsecureUrl => "insecure_url",
    /// A value is not a valid URL.
    InvalidUrl => "invalid_url",
    /// A required setting is missing.
    MissingConfiguration => "missing_configuration",
    /// An additional parameter tried to override one sipauth owns.
    ReservedParameter => "reserved_parameter",
    /// An unsupported setting.
    UnsupportedConfiguration => "unsupported_configuration",
    /// The discovery document names another issuer.
    DiscoveryIssuerMismatch => "discovery_issuer_mismatch",
    /// No ID token although `openid` was requested.
    MissingIdToken => "missing_id_token",
    /// A malformed token.
    InvalidIdToken => "invalid_id_token",
    /// The token's algorithm is not allowed.
    IdTokenAlgorithmNotAllowed => "id_token_algorithm_not_allowed",
    /// No key matches the token.
    UnknownSigningKey => "unknown_signing_key",
    /// The signature does not verify.
    InvalidSignature => "invalid_signature",
    /// A critical JWT header extension sipauth does not implement.
    UnsupportedCriticalHeader => "unsupported_critical_header",
    /// A token of another type (`at+jwt` offered as an ID token, or the reverse).
    InvalidTokenType => "invalid_token_type",
    /// An RSA key under 2048 bits.
    WeakSigningKey => "weak_signing_key",
    /// Wrong `iss`.
    InvalidIssuer => "invalid_issuer",
    /// An Entra tenant not in the allow list.
    TenantNotAllowed => "tenant_not_allowed",
    /// `aud` does not name this client.
    InvalidAudience => "invalid_audience",
    /// `azp` missing or wrong.
    InvalidAzp => "invalid_azp",
    /// The token expired.
    IdTokenExpired => "id_token_expired",
    /// `iat` missing or in the future.
    InvalidIat => "invalid_iat",
    /// `nbf` in the future.
    IdTokenNotYetValid => "id_token_not_yet_valid",
    /// The nonce does not match.
    InvalidNonce => "invalid_nonce",
    /// A required claim is missing.
    MissingClaim => "missing_claim",
    /// A back-channel logout token failed its own checks (event, `jti`, `sub`/`sid`, no nonce).
    InvalidLogoutToken => "invalid_logout_token",
    /// Userinfo's `sub` differs from the token's.
    SubjectMismatch => "subject_mismatch",
    /// An introspected token is not active.
    InactiveToken => "inactive_token",
    /// The username is empty, too long or not sanitisable.
    InvalidUsername => "invalid_username",
    /// A resolver failed.
    ResolverFailed => "resolver_failed",
    /// Not a usable SIP domain.
    InvalidSipDomain => "invalid_sip_domain",
    /// A realm or digest username a password API answered is not usable in a SIP header.
    InvalidSipValue => "invalid_sip_value",
    /// `ws://` to a non-loopback host.
    InsecureWebsocket => "insecure_websocket",
    /// The `id_token` strategy without an ID token.
    IdTokenUnavailable => "id_token_unavailable",
    /// A username from an unverified email.
    UnverifiedEmail => "unverified_email",
    /// A password strategy failed.
    PasswordStrategyFailed => "password_strategy_failed",
    /// Session storage failed.
    StorageError => "storage_error",
    /// Nobody is signed in.
    NotAuthenticated => "not_authenticated",
    /// No refresh token.
    NoRefreshToken => "no_refresh_token",
    /// The access token expired and cannot be refreshed.
    TokenExpired => "token_expired",
    /// The stored session is unreadable.
    UnreadableSession => "unreadable_session",
    /// The stored session belongs to another provider or client.
    SessionMismatch => "session_mismatch",
    // The service's own answers (sipauth serve: the API, the web page, operations).
    /// The request is malformed (a missing bearer token, a bad body, a method not taken).
    InvalidRequest => "invalid_request",
    /// The bearer token failed verification.
    InvalidToken => "invalid_token",
    /// The identity may not have SIP access (policy).
    AccessDenied => "access_denied",
    /// The identity's SIP account is disabled (an operator, the policy at a provision, or the
    /// provider's directory), or the provider removed the person.
    AccountDisabled => "account_disabled",
    /// The identity provider signed this person out (back-channel logout) after the token was
    /// issued, and SIP access ended with it: sign in again.
    SignedOut => "signed_out",
    /// The SIP domain or server an identity's claims give is outside the service's allowed
    /// domains, or not the one its account was made in.
    DomainNotAllowed => "domain_not_allowed",
    /// The person already has as many devices as the service allows: revoke one first.
    TooManyDevices => "too_many_devices",
    /// The request conflicts with what is stored (a SCIM `userName` taken, a changed version).
    Conflict => "conflict",
    /// No such account, route or file.
    NotFound => "not_found",
    /// The database or the identity provider is unreachable; try again.
    TemporarilyUnavailable => "temporarily_unavailable",
    /// Too many requests from this client or identity.
    RateLimited => "rate_limited",
    /// The service failed; the details are in its log only.
    ServerError => "server_error",
    /// A web form's CSRF token is wrong.
    InvalidCsrf => "invalid_csrf",
    /// The web page has no such provider.
    UnknownProvider => "unknown_provider",
    // The command's own (sipauth --json): each pairs with an exit code (sipauth-cli/src/error.rs).
    /// A setting is missing or wrong (exit 5).
    ConfigurationError => "configuration_error",
    /// The sign-in failed (exit 3).
    SignInFailed => "sign_in_failed",
    /// Cancelled by Ctrl-C (exit 130).
    Cancelled => "cancelled",
    /// Anything else the command could not do (exit 1).
    Error => "error",
    /// `register-check`: the SIP server refused the credentials (exit 9).
    SipRefused => "sip_refused",
    /// `register-check`: the SIP server's answer was not usable SIP (exit 10).
    ProtocolError => "protocol_error",
    /// `register-check`: the SIP server could not be reached (exit 6).
    Unreachable => "unreachable",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The session snapshot a UI shows (`sipauth status --json`): who, which SIP URI, when the
/// token expires. No token is in it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// True when signed in with credentials.
    pub signed_in: bool,
    /// The state (`idle`, `redirecting`, ..., `authenticated`, `refreshing`, `error`).
    pub state: String,
    /// The verified claims.
    pub user: Option<Value>,
    /// The SIP URI.
    pub sip_uri: Option<String>,
    /// When the access token expires (Unix seconds).
    pub token_expires_at: Option<i64>,
    /// True when a refresh token is held.
    pub refreshable: bool,
}

/// What to tell people about an error code: a title and an advice, for sign-in pages, apps and
/// the guide's error table (a provider's own codes fall to the general advice). The web page of
/// `sipauth serve` and the example app say the same thing for the same code.
pub fn explain(code: &str) -> (&'static str, &'static str) {
    use ErrorCode as C;
    // A provider's codes (RFC 6749 §4.1.2.1) that say the app is set up wrong.
    if matches!(
        code,
        "invalid_scope" | "unauthorized_client" | "invalid_client" | "unsupported_response_type"
    ) {
        return (
            "This app is not set up right at the sign-in service",
            "Tell the app's administrator the code below.",
        );
    }
    // Our codes by the registry; a provider's other codes fall to the general advice.
    match ErrorCode::parse(code) {
        Some(C::AccessDenied) => (
            "You cancelled the sign-in",
            "Nothing was changed. You can sign in again whenever you like.",
        ),
        Some(C::InvalidState) => (
            "This sign-in link expired, start again",
            "The sign-in took too long, was already used, or was started in another browser.",
        ),
        Some(C::InvalidCsrf) => ("This form expired", "Reload the page and try again."),
        Some(C::ServerError) => (
            "The sign-in service had a problem",
            "The authentication server encountered an error. Try again later.",
        ),
        Some(C::MissingCode) => (
            "The sign-in came back without its code",
            "Start again; if it keeps happening, the app's redirect address is wrong.",
        ),
        Some(C::AccountDisabled) => (
            "Your SIP account is disabled",
            "Your administrator or your organisation's sign-in service turned it off. Ask your administrator.",
        ),
        Some(C::SignedOut) => (
            "You were signed out",
            "Your organisation's sign-in service ended your session. Sign in again to make calls.",
        ),
        Some(C::TooManyDevices) => (
            "You have too many devices",
            "Remove a device you no longer use from your account page, then try again.",
        ),
        Some(C::InvalidUsername) => (
            "No SIP username can be made for you",
            "Ask your administrator.",
        ),
        Some(C::TemporarilyUnavailable | C::NetworkError | C::Timeout) => {
            ("The service is busy", "Try again in a moment.")
        }
        Some(C::UnknownProvider | C::NotFound) => {
            ("Nothing here", "Start again from the sign-in page.")
        }
        Some(
            C::MissingIdToken
            | C::InvalidIdToken
            | C::IdTokenAlgorithmNotAllowed
            | C::IdTokenExpired
            | C::IdTokenNotYetValid
            | C::IdTokenUnavailable
            | C::InvalidNonce
            | C::IssuerMismatch
            | C::DiscoveryIssuerMismatch
            | C::InvalidIssuer
            | C::InvalidSignature,
        ) => (
            "The identity provider's answer could not be trusted",
            "The sign-in was refused for your safety. Start again.",
        ),
        _ => (
            "The sign-in did not work",
            "Start again; if it keeps failing, tell your administrator the code below.",
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                Value::String(code.as_str().into())
            );
        }
        // A provider's own codes pass through as strings.
        assert_eq!(ErrorCode::parse("invalid_grant"), None);
    }

    #[test]
    fn a_guide_style_answer_parses() {
        let answer: ProvisionResponse =
            serde_json::from_str(r#"{"sipPassword":"pw","username":"alice","extra":1}"#).unwrap();
        assert_eq!(answer.password(), Some("pw"));
        assert_eq!(answer.username.as_deref(), Some("alice"));
        let empty: ProvisionResponse = serde_json::from_str(r#"{"password":""}"#).unwrap();
        assert_eq!(empty.password(), None);
    }

    #[test]
    fn the_request_body_is_the_guides() {
        let body = ProvisionRequest {
            user_info: serde_json::json!({"sub": "a"}).as_object().cloned(),
            device: None,
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"userInfo":{"sub":"a"}}"#
        );
    }
}
