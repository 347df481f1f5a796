//! # sipauth: single sign-on for VoIP
//!
//! sipauth signs a person in with their identity provider (Google, Microsoft Entra ID, GitHub,
//! Okta, Auth0, Keycloak, or any OAuth2 / OpenID Connect provider) and turns that identity into SIP
//! credentials. This crate is the client library: it knows nothing of web frameworks, databases
//! or command lines.
//!
//! ## Contents
//! - [`ProviderConfig`]: a provider and this client's registration at it; [`ProviderTemplate`] for
//!   the well-known providers, [`ProviderConfig::discover`] for any OpenID issuer.
//! - [`OidcClient`]: the sign-in. [`OidcClient::authorization_request`] starts it (PKCE S256,
//!   state, nonce); [`OidcClient::handle_callback`] completes it (state, redirect URI and RFC 9207
//!   `iss` checks, code exchange, ID-token verification, userinfo) and returns a [`SignIn`].
//! - [`IdTokenVerifier`] / [`JwksCache`]: the one JWT verification path, shared with the
//!   provisioning service.
//! - [`Error`]: one error type split by fault, each error with a stable [`Error::code`].
//! - [`AccessToken`], [`RefreshToken`], [`SipPassword`], ...: tokens and secrets as newtypes that
//!   print `[redacted]`.
//! - [`Session`]: the sign-in lifecycle (the guide's `useOAuth2`): observable state, events,
//!   single-flight refresh, revocation, restore; kept in a [`SessionStore`].
//! - [`CredentialMapping`] and [`PasswordStrategy`]: from identity to [`ProvisionedCredentials`].
//! - [`Clock`]: time as a parameter.
//!
//! ## Signing in
//! ```no_run
//! # async fn run() -> Result<(), sipauth::Error> {
//! use sipauth::{AuthorizationOptions, ClientRegistration, HttpClient, OidcClient, ProviderConfig};
//!
//! let http = HttpClient::new()?;
//! let client = ClientRegistration::public("my-softphone", "http://127.0.0.1:8765/callback");
//! let provider = ProviderConfig::discover(&http, "https://sso.example.com/realms/voip", client).await?;
//! let oidc = OidcClient::builder(provider).http(http).build()?;
//!
//! let request = oidc.authorization_request(&AuthorizationOptions::default())?;
//! println!("open {}", request.url);
//! // ... the browser comes back to the redirect URI ...
//! # let callback_url = "";
//! let sign_in = oidc.handle_callback(callback_url).await?;
//! println!("signed in as {}", sign_in.user_info.sub);
//! # Ok(()) }
//! ```
//!
//! ## Security notes
//! - PKCE S256 is on by default for every provider, GitHub included; `state` (256 bits) is always
//!   stored and checked, single use, for 10 minutes by default; `nonce` is sent whenever `openid`
//!   is requested and checked in the ID token.
//! - ID tokens are fully verified: signature (RS256, PS256, ES256, EdDSA; HS256 only for
//!   confidential clients; never `none`), `iss`, `aud`, `azp`, `exp`, `iat`, `nbf`, nonce.
//! - Endpoints must be HTTPS, except on loopback hosts. Redirects are never followed.
//! - Additional authorization parameters can never override `client_id`, `redirect_uri`,
//!   `state`, `nonce` or the PKCE challenge: that is a configuration error.

// Concerns, each a folder or a file of its own, private inside; everything a user needs is
// re-exported below, one path per item. Two namespaces stay public because they hold functions
// rather than types: `sip` (the naming rule, client configurations) and `browser` (a page's
// redirects, wasm32 only).
#[cfg(all(feature = "web", target_arch = "wasm32"))]
pub mod browser;
mod clock;
mod error;
mod http;
mod oidc;
mod provider;
mod random;
mod runtime;
mod secret;
mod session;
pub mod sip;
mod storage;
mod url_policy;
mod verify;

#[cfg(not(target_arch = "wasm32"))]
pub use clock::monotonic_now;
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use error::{
    CallbackError, ConfigError, CredentialError, Endpoint, Error, ProviderError, ResponseError,
    SessionFailure, StateProblem, StorageError, TransportError, VerificationError,
};
pub use http::{HttpClient, HttpRequest, RawResponse, Transport};
pub use oidc::{
    verify_by_userinfo, AuthorizationOptions, AuthorizationRequest, DeviceAuthorization, Exchanged,
    MemoryPendingSignIns, OidcClient, OidcClientBuilder, PendingSignIn, PendingSignInStore,
    Revocation, RevocationReport, SignIn, StoredPendingSignIns, TokenSet, TokenTypeHint, UserInfo,
    DEFAULT_MAX_PENDING_SIGN_INS,
};
pub use provider::discovery::fetch_document as fetch_discovery_document;
pub use provider::{
    ClientAuthMethod, ClientRegistration, DiscoveryDocument, ProviderConfig, ProviderKind,
    ProviderTemplate, ResponseMode,
};
pub use random::random_urlsafe;
pub use runtime::BackgroundTask;
#[cfg(not(target_arch = "wasm32"))]
pub use secret::{create_private_dir, create_private_file, read_secret_file};
pub use secret::{
    AccessToken, ClientSecret, CsrfState, IdToken, Nonce, RefreshToken, SecretText, SipPassword,
};
pub use session::{
    AuthState, InactivityMonitor, LogoutReason, RetryPolicy, Session, SessionBuilder, SessionError,
    SessionEvent, SessionOptions, SessionSnapshot,
};
pub use sip::credentials::ProvisionedCredentials;
pub use sip::mapping::{CredentialMapping, MappingInput};
pub use sip::password::PasswordStrategy;
/// The shared wire types (credentials JSON, provisioning API, error bodies, session view).
pub use sipauth_wire as wire;
pub use sipauth_wire::ErrorCode;
#[cfg(feature = "native")]
pub use storage::FileStore;
#[cfg(feature = "keyring")]
pub use storage::KeyringStore;
pub use storage::{BoxFuture, MemoryStore, SessionStore, StoreLock};
#[cfg(all(feature = "web", target_arch = "wasm32"))]
pub use storage::{WebStorage, WebStore};
pub use url_policy::{is_loopback as is_loopback_url, parse_secure as parse_secure_url};
pub use verify::{
    IdTokenClaims, IdTokenVerifier, Introspector, Issuer, JwksCache, TokenKind, TokenVerifier,
    VerificationPolicy, VerifiedBy, VerifiedIdToken, VerifiedIdentity, VerifiedLogout,
    VerifyOptions, BACKCHANNEL_LOGOUT_EVENT,
};
#[cfg(feature = "native")]
pub use verify::{SealError, SealedIdentity, SealingKey};

/// The README's Rust snippets, compiled as doctests so they cannot rot.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
