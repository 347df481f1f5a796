//! [`Session`]: the guide's `useOAuth2`, done right. One provider, one credential mapping, one
//! store; observable state (a snapshot and a `watch` subscription) and events; login, callback,
//! logout (revoking refresh and access tokens), refresh, restore and re-provisioning.
//!
//! Refresh is single-flight: concurrent callers in one process share one token request (an async
//! gate with a double check), and processes sharing a [`FileStore`](crate::storage::FileStore)
//! take the store's lock and re-read it before spending a refresh token, so a rotating refresh
//! token is never spent twice. The new tokens are persisted before anyone is handed the new access
//! token. Auto refresh runs at expiry minus the threshold (half the remaining lifetime when the
//! token lives shorter than the threshold), and stops only on logout, clear or a visible failure.
//! Protocol steps are [`OidcClient`]'s; storage is [`crate::storage`]'s.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use crate::authorize::{AuthorizationOptions, AuthorizationRequest};
use crate::client::{OidcClient, OidcClientBuilder, RevocationReport, SignIn};
use crate::clock::{secs, SharedClock};
use crate::error::{Error, SessionFailure};
use crate::http::HttpClient;
use crate::provider::ProviderConfig;
use crate::sip::{CredentialMapping, ProvisionedCredentials};
use crate::storage::{MemoryStore, SessionStore, StoredPendingSignIns};
use crate::token::TokenSet;
use crate::userinfo::UserInfo;

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

/// How failed refreshes are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (default 3).
    pub attempts: u32,
    /// The first wait; it doubles each time (default 500 ms).
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base_delay: Duration::from_millis(500),
        }
    }
}

/// Session options (the guide's `autoRefresh`, `refreshThreshold`, `storageType`,
/// `storageKeyPrefix`).
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Refresh automatically before expiry (default true).
    pub auto_refresh: bool,
    /// Refresh this long before expiry (default 300 s).
    pub refresh_threshold: Duration,
    /// Where the session and pending sign-ins are kept (default: memory).
    pub store: Arc<dyn SessionStore>,
    /// Key prefix in the store (default `sipauth_`).
    pub key_prefix: String,
    /// Retries for transient refresh failures.
    pub retry: RetryPolicy,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            auto_refresh: true,
            refresh_threshold: Duration::from_secs(300),
            store: Arc::new(MemoryStore::new()),
            key_prefix: "sipauth_".into(),
            retry: RetryPolicy::default(),
        }
    }
}

/// The version of the persisted record this library writes and reads.
const RECORD_VERSION: u32 = 1;

/// What is persisted.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSession {
    version: u32,
    tokens: TokenSet,
    user_info: UserInfo,
    sip_credentials: Option<ProvisionedCredentials>,
    saved_at: i64,
}

type Listener = Arc<dyn Fn(&SessionEvent) + Send + Sync>;

struct Inner {
    client: OidcClient,
    mapping: CredentialMapping,
    options: SessionOptions,
    snapshot: watch::Sender<SessionSnapshot>,
    events: broadcast::Sender<SessionEvent>,
    listeners: Mutex<Vec<Listener>>,
    refresh_gate: tokio::sync::Mutex<()>,
    timer: Mutex<Option<crate::runtime::BackgroundTask>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(timer) = self.timer.get_mut().ok().and_then(Option::take) {
            timer.abort();
        }
    }
}

/// A sign-in session. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Session(Arc<Inner>);

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.snapshot().state)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Session`].
pub struct SessionBuilder {
    client: OidcClientBuilder,
    mapping: CredentialMapping,
    options: SessionOptions,
}

impl SessionBuilder {
    /// Session options.
    pub fn options(mut self, options: SessionOptions) -> Self {
        self.options = options;
        self
    }

    /// The store (shortcut for `options.store`).
    pub fn store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.options.store = store;
        self
    }

    /// The clock (tests: [`crate::ManualClock`]).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.client = self.client.clock(clock);
        self
    }

    /// The HTTP client.
    pub fn http(mut self, http: HttpClient) -> Self {
        self.client = self.client.http(http);
        self
    }

    /// Builds the session (nothing is loaded until [`Session::restore`]).
    pub fn build(self) -> Result<Session, Error> {
        let pending =
            StoredPendingSignIns::new(self.options.store.clone(), &self.options.key_prefix);
        let client = self.client.pending_store(Arc::new(pending)).build()?;
        let (snapshot, _) = watch::channel(SessionSnapshot::default());
        let (events, _) = broadcast::channel(256);
        Ok(Session(Arc::new(Inner {
            client,
            mapping: self.mapping,
            options: self.options,
            snapshot,
            events,
            listeners: Mutex::default(),
            refresh_gate: tokio::sync::Mutex::new(()),
            timer: Mutex::default(),
        })))
    }
}

impl Session {
    /// A builder for a session over this provider and mapping.
    pub fn builder(provider: ProviderConfig, mapping: CredentialMapping) -> SessionBuilder {
        SessionBuilder {
            client: OidcClient::builder(provider),
            mapping,
            options: SessionOptions::default(),
        }
    }

    /// The protocol client.
    pub fn client(&self) -> &OidcClient {
        &self.0.client
    }

    /// The current state, everything at once.
    pub fn snapshot(&self) -> SessionSnapshot {
        self.0.snapshot.borrow().clone()
    }

    /// The current auth state.
    pub fn state(&self) -> AuthState {
        self.0.snapshot.borrow().state
    }

    /// True when signed in.
    pub fn is_authenticated(&self) -> bool {
        self.0.snapshot.borrow().is_authenticated()
    }

    /// The SIP credentials, when signed in.
    pub fn sip_credentials(&self) -> Option<ProvisionedCredentials> {
        self.0.snapshot.borrow().sip_credentials.clone()
    }

    /// Watches the snapshot (a `tokio::sync::watch` receiver).
    pub fn subscribe(&self) -> watch::Receiver<SessionSnapshot> {
        self.0.snapshot.subscribe()
    }

    /// Receives every event from now on.
    pub fn events(&self) -> broadcast::Receiver<SessionEvent> {
        self.0.events.subscribe()
    }

    /// Calls `listener` synchronously for every event (audit logging and the like).
    pub fn on_event<F: Fn(&SessionEvent) + Send + Sync + 'static>(&self, listener: F) {
        self.0
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(listener));
    }

    fn emit(&self, event: SessionEvent) {
        let listeners = self
            .0
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for listener in listeners {
            listener(&event);
        }
        let _ = self.0.events.send(event);
    }

    fn now(&self) -> i64 {
        self.0.client.clock().now_unix()
    }

    /// Applies a change to the snapshot and reports a state change.
    fn update(&self, change: impl FnOnce(&mut SessionSnapshot)) {
        let mut old = AuthState::Idle;
        let mut new = AuthState::Idle;
        self.0.snapshot.send_modify(|s| {
            old = s.state;
            change(s);
            new = s.state;
        });
        if old != new {
            self.emit(SessionEvent::StateChanged { new, old });
        }
    }

    fn set_state(&self, state: AuthState) {
        self.update(|s| s.state = state);
    }

    /// Shows a failure: error state and an error event. Nothing half-done is kept.
    fn fail(&self, error: &Error) {
        let shown = SessionError::from(error);
        self.update(|s| {
            s.state = AuthState::Error;
            s.error = Some(shown.clone());
            s.is_refreshing = false;
        });
        self.emit(SessionEvent::Error(shown));
    }

    fn session_key(&self) -> String {
        format!("{}session", self.0.options.key_prefix)
    }

    fn needs_refresh(&self, tokens: &TokenSet, now: i64) -> bool {
        tokens.needs_refresh_at(now, self.0.options.refresh_threshold)
    }

    fn persist(
        &self,
        tokens: &TokenSet,
        user_info: &UserInfo,
        credentials: Option<&ProvisionedCredentials>,
    ) -> Result<(), Error> {
        let record = StoredSession {
            version: RECORD_VERSION,
            tokens: tokens.clone(),
            user_info: user_info.clone(),
            sip_credentials: credentials.cloned(),
            saved_at: self.now(),
        };
        let json = serde_json::to_string(&record)
            .map_err(|e| crate::storage::StorageError::new("encode session", e))?;
        Ok(self.0.options.store.save(&self.session_key(), &json)?)
    }

    /// The stored session. A record that does not parse, or that an unknown version wrote, is
    /// refused (`unreadable_session`) and set aside in the store, never silently read as absent
    /// nor guessed at.
    fn load_stored(&self) -> Result<Option<StoredSession>, Error> {
        let key = self.session_key();
        let Some(json) = self.0.options.store.load(&key)? else {
            return Ok(None);
        };
        let reason = match serde_json::from_str::<serde_json::Value>(&json) {
            Err(e) => format!("not JSON: {e}"),
            Ok(value) => match value.get("version").and_then(serde_json::Value::as_u64) {
                Some(v) if v == u64::from(RECORD_VERSION) => {
                    match serde_json::from_value::<StoredSession>(value) {
                        Ok(record) => return Ok(Some(record)),
                        Err(e) => format!("not a session record: {e}"),
                    }
                }
                Some(v) => {
                    format!("record version {v}, and this sipauth reads version {RECORD_VERSION}")
                }
                None => "no record version".to_string(),
            },
        };
        let moved_to = self.0.options.store.set_aside(&key)?;
        tracing::warn!(%reason, moved_to = moved_to.as_deref().unwrap_or(""), "the stored session is unreadable");
        Err(SessionFailure::UnreadableRecord { reason, moved_to }.into())
    }

    /// Starts a sign-in (`login(prompt, login_hint)`): returns the authorization URL; the caller
    /// navigates to it (browser redirect, system browser, or printing).
    pub fn login(&self, options: &AuthorizationOptions) -> Result<AuthorizationRequest, Error> {
        self.update(|s| s.error = None);
        self.set_state(AuthState::Redirecting);
        self.0
            .client
            .authorization_request(options)
            .inspect_err(|e| self.fail(e))
    }

    /// Completes a sign-in from the callback URL and returns the SIP credentials. On failure the
    /// session shows the error and keeps nothing from the failed attempt.
    pub async fn handle_callback(
        &self,
        callback_url: &str,
    ) -> Result<ProvisionedCredentials, Error> {
        self.update(|s| {
            s.error = None;
            s.state = AuthState::ExchangingCode;
        });
        match self.0.client.exchange_callback(callback_url).await {
            Ok(exchanged) => self.finish_sign_in(exchanged).await,
            Err(e) => {
                self.fail(&e);
                Err(e)
            }
        }
    }

    /// Starts a device sign-in (RFC 8628): show the returned user code and URI to the user,
    /// then call [`complete_device_login`](Self::complete_device_login).
    pub async fn start_device_login(&self) -> Result<crate::device::DeviceAuthorization, Error> {
        self.update(|s| s.error = None);
        self.set_state(AuthState::Redirecting);
        self.0
            .client
            .start_device_authorization()
            .await
            .inspect_err(|e| self.fail(e))
    }

    /// Waits for the user to approve a device sign-in, then provisions like a callback does.
    pub async fn complete_device_login(
        &self,
        device: &crate::device::DeviceAuthorization,
    ) -> Result<ProvisionedCredentials, Error> {
        match self.0.client.poll_device_token(device).await {
            Ok(exchanged) => {
                self.set_state(AuthState::ExchangingCode);
                self.finish_sign_in(exchanged).await
            }
            Err(e) => {
                self.fail(&e);
                Err(e)
            }
        }
    }

    /// User info, credentials, persistence and the authenticated state, after tokens arrived.
    async fn finish_sign_in(
        &self,
        exchanged: crate::client::Exchanged,
    ) -> Result<ProvisionedCredentials, Error> {
        let result = async {
            self.set_state(AuthState::FetchingUserInfo);
            let user_info = self
                .0
                .client
                .user_info(&exchanged.tokens, exchanged.id_token.as_ref())
                .await?;
            self.set_state(AuthState::Provisioning);
            let sign_in = SignIn {
                tokens: exchanged.tokens,
                id_token: exchanged.id_token,
                user_info,
            };
            let credentials = self.0.client.provision(&sign_in, &self.0.mapping).await?;
            self.persist(&sign_in.tokens, &sign_in.user_info, Some(&credentials))?;
            Ok::<_, Error>((sign_in, credentials))
        }
        .await;
        match result {
            Ok((sign_in, credentials)) => {
                self.update(|s| {
                    s.token_expires_at = sign_in.tokens.expires_at;
                    s.tokens = Some(sign_in.tokens);
                    s.user_info = Some(sign_in.user_info);
                    s.sip_credentials = Some(credentials.clone());
                    s.generation += 1;
                    s.state = AuthState::Authenticated;
                });
                self.emit(SessionEvent::CredentialsProvisioned(Box::new(
                    credentials.clone(),
                )));
                self.schedule_refresh();
                Ok(credentials)
            }
            Err(e) => {
                self.fail(&e);
                Err(e)
            }
        }
    }

    /// True when the access token is due for a refresh (see [`TokenSet::refresh_due_at`]: the
    /// threshold before expiry, or half-life for short-lived tokens) or past expiry.
    pub fn is_token_expired(&self) -> bool {
        let snapshot = self.0.snapshot.borrow();
        snapshot
            .tokens
            .as_ref()
            .is_some_and(|t| self.needs_refresh(t, self.now()))
    }

    /// A usable access token: refreshed first when inside the threshold. An expired token that
    /// cannot be refreshed is an error (`token_expired`), never returned.
    pub async fn get_access_token(&self) -> Result<crate::secret::AccessToken, Error> {
        let tokens = self
            .snapshot()
            .tokens
            .ok_or(SessionFailure::NotAuthenticated)?;
        let now = self.now();
        if !self.needs_refresh(&tokens, now) {
            return Ok(tokens.access_token);
        }
        if tokens.refresh_token.is_none() {
            return if tokens.is_expired_at(now) {
                Err(SessionFailure::TokenExpired.into())
            } else {
                Ok(tokens.access_token)
            };
        }
        match self.refresh_inner(false).await {
            Ok(refreshed) => Ok(refreshed.access_token),
            // The provider is down but the token still works: use it rather than fail.
            Err(e) if is_transient(&e) && !tokens.is_expired_at(self.now()) => {
                tracing::warn!(error = %e, "refresh failed; using the still-valid access token");
                Ok(tokens.access_token)
            }
            Err(e) => Err(e),
        }
    }

    /// Refreshes now (concurrent callers share one request).
    pub async fn refresh_tokens(&self) -> Result<TokenSet, Error> {
        self.refresh_inner(true).await
    }

    async fn refresh_inner(&self, force: bool) -> Result<TokenSet, Error> {
        let generation_before = self.0.snapshot.borrow().generation;
        let _gate = self.0.refresh_gate.lock().await;
        let snapshot = self.snapshot();
        let mut tokens = snapshot
            .tokens
            .clone()
            .ok_or(SessionFailure::NotAuthenticated)?;
        // Another caller refreshed while we waited: share its result.
        if snapshot.generation != generation_before
            || (!force && !self.needs_refresh(&tokens, self.now()))
        {
            return Ok(tokens);
        }

        // Other processes sharing the store: take its lock, then re-read it.
        let _lock = self.0.options.store.lock(&self.session_key()).await?;
        if let Some(stored) = self.load_stored()? {
            // Another process refreshed (a rotated refresh token, or at least a new access token).
            if stored.tokens.refresh_token != tokens.refresh_token
                || stored.tokens.access_token.secret() != tokens.access_token.secret()
            {
                tracing::debug!("another process refreshed; adopting its tokens");
                tokens = stored.tokens.clone();
                self.update(|s| {
                    s.token_expires_at = stored.tokens.expires_at;
                    s.tokens = Some(stored.tokens.clone());
                    s.user_info = Some(stored.user_info.clone());
                    if stored.sip_credentials.is_some() {
                        s.sip_credentials = stored.sip_credentials.clone();
                    }
                    s.generation += 1;
                });
                if !self.needs_refresh(&tokens, self.now()) {
                    self.schedule_refresh();
                    return Ok(tokens);
                }
            }
        }
        let refresh_token = tokens
            .refresh_token
            .clone()
            .ok_or(SessionFailure::NoRefreshToken)?;

        let previous = snapshot.state;
        self.update(|s| {
            s.is_refreshing = true;
            s.state = AuthState::Refreshing;
        });
        let mut refreshed = match self.refresh_with_retry(&refresh_token).await {
            Ok(t) => t,
            Err(e) => {
                self.refresh_failed(&e);
                return Err(match refusal(&e) {
                    Some(refused) => refused.into(),
                    None => e,
                });
            }
        };
        // A refresh without a new ID token keeps the last one (id_token_hint, the id_token
        // password strategy), with its expiry.
        if refreshed.id_token.is_none() {
            refreshed.id_token = tokens.id_token.clone();
            refreshed.id_token_expires_at = tokens.id_token_expires_at;
        }
        let user_info = snapshot.user_info.clone().unwrap_or_default();
        // The rotated refresh token is on disk before the new access token is handed out.
        self.persist(&refreshed, &user_info, snapshot.sip_credentials.as_ref())?;
        // Token-derived passwords change with the tokens: provision again.
        let sign_in = SignIn {
            tokens: refreshed.clone(),
            id_token: None,
            user_info: user_info.clone(),
        };
        let credentials = match self.0.client.provision(&sign_in, &self.0.mapping).await {
            Ok(c) => {
                self.persist(&refreshed, &user_info, Some(&c))?;
                Some(c)
            }
            Err(e) => {
                tracing::warn!(error = %e, "re-provisioning after a refresh failed; keeping the old credentials");
                snapshot.sip_credentials.clone()
            }
        };
        let changed = credentials.as_ref().map(|c| &c.password)
            != snapshot.sip_credentials.as_ref().map(|c| &c.password);
        self.update(|s| {
            s.token_expires_at = refreshed.expires_at;
            s.tokens = Some(refreshed.clone());
            s.sip_credentials = credentials.clone();
            s.generation += 1;
            s.is_refreshing = false;
            s.state = match previous {
                AuthState::Refreshing | AuthState::Error | AuthState::Idle => {
                    AuthState::Authenticated
                }
                other => other,
            };
        });
        self.emit(SessionEvent::TokensRefreshed {
            expires_at: refreshed.expires_at,
        });
        if let (true, Some(c)) = (changed, credentials) {
            self.emit(SessionEvent::CredentialsProvisioned(Box::new(c)));
        }
        self.schedule_refresh();
        Ok(refreshed)
    }

    async fn refresh_with_retry(
        &self,
        refresh_token: &crate::secret::RefreshToken,
    ) -> Result<TokenSet, Error> {
        let policy = self.0.options.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.0.client.refresh(refresh_token).await {
                Ok(tokens) => return Ok(tokens),
                Err(e) if attempt < policy.attempts && is_transient(&e) => {
                    let wait = policy.base_delay.saturating_mul(1 << (attempt - 1).min(10));
                    tracing::warn!(error = %e, attempt, "token refresh failed; retrying");
                    self.0.client.clock().sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A refresh that finally failed: visible error, logout event; a refused grant is dropped.
    fn refresh_failed(&self, error: &Error) {
        self.cancel_refresh();
        let expired = self
            .0
            .snapshot
            .borrow()
            .tokens
            .as_ref()
            .is_some_and(|t| t.is_expired_at(self.now()));
        let refused = refusal(error).is_some();
        if refused {
            if let Err(e) = self.0.options.store.remove(&self.session_key()) {
                tracing::warn!(error = %e, "cannot remove the refused session from storage");
            }
            self.update(|s| {
                s.tokens = None;
                s.token_expires_at = None;
                s.user_info = None;
                s.sip_credentials = None;
                s.generation += 1;
            });
        }
        self.fail(error);
        let reason = if expired {
            LogoutReason::TokenExpired
        } else {
            LogoutReason::RefreshFailed
        };
        self.emit(SessionEvent::Logout(reason));
    }

    /// When the next automatic refresh runs (Unix seconds), if one is due: the moment
    /// [`TokenSet::refresh_due_at`] names, at least a second from now, at most a day (then the
    /// schedule is simply re-evaluated).
    pub fn next_refresh_at(&self) -> Option<i64> {
        let snapshot = self.0.snapshot.borrow();
        let tokens = snapshot.tokens.as_ref()?;
        tokens.refresh_token.as_ref()?;
        let due = tokens.refresh_due_at(self.0.options.refresh_threshold)?;
        let now = self.now();
        Some(due.clamp(now + 1, now + 86_400))
    }

    fn schedule_refresh(&self) {
        self.cancel_refresh();
        if !self.0.options.auto_refresh {
            return;
        }
        let Some(at) = self.next_refresh_at() else {
            return;
        };
        let delay = Duration::from_secs(u64::try_from(at - self.now()).unwrap_or(1));
        let weak: Weak<Inner> = Arc::downgrade(&self.0);
        let sleep = self.0.client.clock().sleep(delay);
        let handle = crate::runtime::spawn(async move {
            sleep.await;
            if let Some(inner) = weak.upgrade() {
                let session = Session(inner);
                if let Err(e) = session.refresh_inner(false).await {
                    tracing::warn!(error = %e, "automatic refresh failed");
                }
            }
        });
        if handle.is_none() {
            tracing::warn!(
                "no async runtime to run the refresh timer on; tokens are refreshed on demand only"
            );
        }
        *self.0.timer.lock().unwrap_or_else(|p| p.into_inner()) = handle;
    }

    fn cancel_refresh(&self) {
        if let Some(timer) = self
            .0
            .timer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            timer.abort();
        }
    }

    /// Signs out: revokes the refresh token and the access token (RFC 7009, when the provider
    /// has a revocation endpoint), then clears everything. The report says what happened to
    /// each token at the provider: revoked, not supported there, or refused; the local session
    /// is gone in every case (an error here is only a storage failure).
    pub async fn logout(&self) -> Result<Option<RevocationReport>, Error> {
        self.end(LogoutReason::UserInitiated).await
    }

    /// Ends the session for a reason (the inactivity monitor uses `SessionTimeout`). Returns
    /// the revocation report, or `None` when no tokens were held.
    pub async fn end(&self, reason: LogoutReason) -> Result<Option<RevocationReport>, Error> {
        self.cancel_refresh();
        let report = match self.snapshot().tokens {
            Some(tokens) => {
                let report = self.0.client.revoke_tokens(&tokens).await;
                if report.any_failed() {
                    tracing::warn!(?report, "revocation at the provider failed");
                }
                Some(report)
            }
            None => None,
        };
        self.clear_auth()?;
        self.emit(SessionEvent::Logout(reason));
        Ok(report)
    }

    /// Abandons a started sign-in: its pending record (PKCE verifier, state, nonce) is removed
    /// now rather than when a later run sweeps it (Ctrl-C, a timeout, a window closed).
    pub fn cancel_login(&self, request: &AuthorizationRequest) -> Result<(), Error> {
        self.0.client.cancel_sign_in(request.state.secret())?;
        if matches!(self.state(), AuthState::Redirecting) {
            self.set_state(AuthState::Idle);
        }
        Ok(())
    }

    /// Forgets the session locally (no revocation): storage, state, error, timer.
    pub fn clear_auth(&self) -> Result<(), Error> {
        self.cancel_refresh();
        self.0.options.store.remove(&self.session_key())?;
        self.update(|s| {
            let generation = s.generation + 1;
            *s = SessionSnapshot {
                generation,
                ..SessionSnapshot::default()
            };
        });
        Ok(())
    }

    /// Makes new SIP credentials from the current tokens (rotating the password per strategy).
    pub async fn reprovision_credentials(&self) -> Result<ProvisionedCredentials, Error> {
        let snapshot = self.snapshot();
        let tokens = snapshot.tokens.ok_or(SessionFailure::NotAuthenticated)?;
        let user_info = snapshot.user_info.ok_or(SessionFailure::NotAuthenticated)?;
        let sign_in = SignIn {
            tokens: tokens.clone(),
            id_token: None,
            user_info: user_info.clone(),
        };
        let credentials = self.0.client.provision(&sign_in, &self.0.mapping).await?;
        self.persist(&tokens, &user_info, Some(&credentials))?;
        self.update(|s| s.sip_credentials = Some(credentials.clone()));
        self.emit(SessionEvent::CredentialsProvisioned(Box::new(
            credentials.clone(),
        )));
        Ok(credentials)
    }

    /// Loads the stored session into the snapshot as it is, with no network request at all: no
    /// refresh, no re-provisioning, no timer (for reporting, like `sipauth status`). Returns
    /// false when nothing is stored.
    pub fn load(&self) -> Result<bool, Error> {
        let Some(stored) = self.load_stored()? else {
            return Ok(false);
        };
        let expired = stored.tokens.is_expired_at(self.now());
        self.update(|s| {
            s.token_expires_at = stored.tokens.expires_at;
            s.tokens = Some(stored.tokens.clone());
            s.user_info = Some(stored.user_info.clone());
            s.sip_credentials = stored.sip_credentials.clone();
            s.error = None;
            s.generation += 1;
            s.state = if expired && stored.tokens.refresh_token.is_none() {
                AuthState::Idle
            } else {
                AuthState::Authenticated
            };
        });
        Ok(true)
    }

    /// Loads the stored session at start-up. Due for a refresh → refresh → re-provision →
    /// persist. Returns the credentials when a session was restored.
    pub async fn restore(&self) -> Result<Option<ProvisionedCredentials>, Error> {
        let Some(stored) = self.load_stored()? else {
            return Ok(None);
        };
        let now = self.now();
        if stored.tokens.is_expired_at(now) && stored.tokens.refresh_token.is_none() {
            self.0.options.store.remove(&self.session_key())?;
            self.emit(SessionEvent::Logout(LogoutReason::TokenExpired));
            return Ok(None);
        }
        let needs_refresh =
            self.needs_refresh(&stored.tokens, now) && stored.tokens.refresh_token.is_some();
        self.update(|s| {
            s.token_expires_at = stored.tokens.expires_at;
            s.tokens = Some(stored.tokens.clone());
            s.user_info = Some(stored.user_info.clone());
            s.sip_credentials = stored.sip_credentials.clone();
            s.error = None;
            s.generation += 1;
            s.state = AuthState::Authenticated;
        });
        if needs_refresh {
            if let Err(e) = self.refresh_inner(false).await {
                // A provider that is down does not end a session whose token still works.
                if !is_transient(&e) || stored.tokens.is_expired_at(self.now()) {
                    return Err(e);
                }
                tracing::warn!(error = %e, "refresh failed; keeping the still-valid access token");
                self.set_state(AuthState::Authenticated);
                if stored.sip_credentials.is_none() {
                    self.reprovision_credentials().await?;
                }
            }
        } else if stored.sip_credentials.is_none() {
            self.reprovision_credentials().await?;
        } else {
            self.schedule_refresh();
        }
        Ok(self.sip_credentials())
    }
}

/// A refresh the provider refused for good (the grant is dead): its OAuth2 error, or a
/// 400/401 answer without one (some providers answer a dead refresh token with an empty 400).
fn refusal(e: &Error) -> Option<SessionFailure> {
    match e {
        Error::Provider(p) if p.endpoint == crate::error::Endpoint::Token => {
            Some(SessionFailure::RefreshRefused {
                code: p.error.clone(),
                description: p.description.clone().unwrap_or_default(),
            })
        }
        Error::Response(r)
            if r.endpoint == crate::error::Endpoint::Token && matches!(r.status, 400 | 401) =>
        {
            Some(SessionFailure::RefreshRefused {
                code: e.code().to_string(),
                description: format!("HTTP {} without an OAuth2 error body", r.status),
            })
        }
        _ => None,
    }
}

fn is_transient(e: &Error) -> bool {
    match e {
        Error::Transport(_) => true,
        Error::Response(r) => r.status >= 500,
        _ => false,
    }
}

/// Ends a session after a period without activity (the guide's session-timeout pattern). Call
/// [`touch`](Self::touch) on user activity; [`check`](Self::check) decides by the session's
/// clock, and [`spawn`](Self::spawn) checks periodically.
#[derive(Debug)]
pub struct InactivityMonitor {
    session: Session,
    timeout: i64,
    last_activity: std::sync::atomic::AtomicI64,
}

impl InactivityMonitor {
    /// A monitor ending `session` after `timeout` without activity.
    pub fn new(session: Session, timeout: Duration) -> Arc<Self> {
        let now = session.now();
        Arc::new(Self {
            session,
            timeout: secs(timeout),
            last_activity: std::sync::atomic::AtomicI64::new(now),
        })
    }

    /// Records activity now.
    pub fn touch(&self) {
        self.last_activity
            .store(self.session.now(), std::sync::atomic::Ordering::SeqCst);
    }

    /// Ends the session (reason `session_timeout`) when it is signed in and idle too long.
    /// Returns true when it ended it.
    pub async fn check(&self) -> bool {
        let idle =
            self.session.now() - self.last_activity.load(std::sync::atomic::Ordering::SeqCst);
        if self.session.is_authenticated() && idle >= self.timeout {
            let _ = self.session.end(LogoutReason::SessionTimeout).await;
            return true;
        }
        false
    }

    /// Checks every `every` (by the session's clock) until the monitor is dropped by everyone
    /// else. `None` when there is no async runtime to run it on.
    pub fn spawn(self: &Arc<Self>, every: Duration) -> Option<crate::runtime::BackgroundTask> {
        let weak = Arc::downgrade(self);
        let clock = self.session.0.client.clock().clone();
        crate::runtime::spawn(async move {
            loop {
                clock.sleep(every).await;
                match weak.upgrade() {
                    Some(monitor) => {
                        monitor.check().await;
                    }
                    None => return,
                }
            }
        })
    }
}
