//! [`Session`]: the guide's `useOAuth2`, done right. One provider, one credential mapping, one
//! store; login, callback, device sign-in, logout (revoking refresh and access tokens), refresh,
//! restore and re-provisioning. Split by job:
//! - `state`: what it shows (state, snapshot, events, errors);
//! - `record`: what it persists, and refusing records it cannot read;
//! - `refresh`: single-flight refresh within a process and across processes sharing a
//!   [`FileStore`](crate::storage::FileStore), retries, and what a final failure means;
//! - `schedule`: when the next automatic refresh and re-provisioning (before the SIP
//!   credentials' `expiresAt`) run, and their one timer;
//! - `inactivity`: ending idle sessions.
//!
//! Protocol steps are [`OidcClient`]'s; storage is [`crate::storage`]'s; SIP credentials are
//! [`crate::sip`]'s.

mod inactivity;
mod record;
mod refresh;
mod schedule;
mod state;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

pub use inactivity::InactivityMonitor;
pub use state::{AuthState, LogoutReason, SessionError, SessionEvent, SessionSnapshot};

use crate::clock::SharedClock;
use crate::error::{Error, SessionFailure};
use crate::http::HttpClient;
use crate::oidc::authorize::{AuthorizationOptions, AuthorizationRequest};
use crate::oidc::token::TokenSet;
use crate::oidc::StoredPendingSignIns;
use crate::oidc::{OidcClient, OidcClientBuilder, RevocationReport, SignIn};
use crate::provider::ProviderConfig;
use crate::storage::{MemoryStore, SessionStore};
use crate::{CredentialMapping, ProvisionedCredentials};
use refresh::is_transient;

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
    /// Where started sign-ins wait for their callback, when not in `store`: in the browser,
    /// `sessionStorage`, so a sign-in survives the redirect even when tokens are kept in
    /// memory only.
    pub pending_store: Option<Arc<dyn SessionStore>>,
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
            pending_store: None,
            key_prefix: "sipauth_".into(),
            retry: RetryPolicy::default(),
        }
    }
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
    /// After a failed automatic re-provision: not again before this (Unix seconds).
    reprovision_not_before: Mutex<i64>,
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
        let pending = StoredPendingSignIns::new(
            self.options
                .pending_store
                .clone()
                .unwrap_or_else(|| self.options.store.clone()),
            &self.options.key_prefix,
        );
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
            reprovision_not_before: Mutex::new(0),
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
    pub async fn start_device_login(
        &self,
    ) -> Result<crate::oidc::device::DeviceAuthorization, Error> {
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
        device: &crate::oidc::device::DeviceAuthorization,
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
        exchanged: crate::oidc::Exchanged,
    ) -> Result<ProvisionedCredentials, Error> {
        let result = async {
            self.set_state(AuthState::FetchingUserInfo);
            let user_info = self
                .0
                .client
                .user_info(&exchanged.tokens, exchanged.id_token.as_ref())
                .await?;
            self.set_state(AuthState::Provisioning);
            let sign_in = self.0.client.signed_in(exchanged, user_info);
            let credentials = self.provision(&sign_in).await?;
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
                // Still signed in: the failure stays visible in `error`, the state says the truth.
                self.set_state(AuthState::Authenticated);
                Ok(tokens.access_token)
            }
            Err(e) => Err(e),
        }
    }

    /// Refreshes now (concurrent callers share one request).
    pub async fn refresh_tokens(&self) -> Result<TokenSet, Error> {
        self.refresh_inner(true).await
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

    /// Ends this person's SIP account at the provisioning service before signing out (the
    /// `api` strategy: `DELETE` on its endpoint with a valid access token), so the credentials
    /// this device held stop working at the SIP server at once; then call [`Session::logout`].
    /// `Ok(false)` when the strategy keeps nothing at a service.
    pub async fn deprovision(&self) -> Result<bool, Error> {
        if !matches!(
            self.0.mapping.password,
            crate::PasswordStrategy::ApiGenerated { .. }
        ) {
            return Ok(false);
        }
        let tokens = self.current_tokens().await?;
        Ok(crate::sip::password::deprovision(
            &self.0.mapping.password,
            self.0.client.http(),
            &tokens,
        )
        .await?)
    }

    /// This person's devices at the provisioning service (credentials per device: `GET
    /// …/devices` beside the `api` strategy's endpoint, with the access token). `None` when the
    /// strategy keeps nothing at a service.
    pub async fn devices(&self) -> Result<Option<sipauth_wire::DeviceList>, Error> {
        let tokens = self.current_tokens().await?;
        Ok(crate::sip::password::list_devices(
            &self.0.mapping.password,
            self.0.client.http(),
            &tokens,
        )
        .await?)
    }

    /// Revokes one of this person's devices at the provisioning service (its password stops
    /// working at once; the others keep working). `Some(false)`: no such device; `None`: the
    /// strategy keeps nothing at a service.
    pub async fn revoke_device(&self, id: &str) -> Result<Option<bool>, Error> {
        let tokens = self.current_tokens().await?;
        Ok(crate::sip::password::revoke_device(
            &self.0.mapping.password,
            self.0.client.http(),
            &tokens,
            id,
        )
        .await?)
    }

    /// The tokens with a fresh access token (refreshed when due).
    async fn current_tokens(&self) -> Result<TokenSet, Error> {
        let token = self.get_access_token().await?;
        let mut tokens = self
            .snapshot()
            .tokens
            .ok_or(SessionFailure::NotAuthenticated)?;
        tokens.access_token = token;
        Ok(tokens)
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

    /// The provisioning service answered `signed_out` (the provider logged the person out
    /// after these tokens were issued): the session ends here, once, with
    /// [`LogoutReason::BackChannelLogout`]. Nothing is revoked: the provider ended it.
    fn signed_out_if(&self, e: &Error) -> Result<(), Error> {
        let signed_in = self.snapshot().tokens.is_some();
        if signed_in && e.error_code() == Some(crate::ErrorCode::SignedOut) {
            tracing::info!("the identity provider signed this person out; the session ends");
            self.clear_auth()?;
            self.emit(SessionEvent::Logout(LogoutReason::BackChannelLogout));
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

    /// The credentials of `sign_in` by the mapping, stamped with when they were provisioned.
    async fn provision(&self, sign_in: &SignIn) -> Result<ProvisionedCredentials, Error> {
        let mut credentials = self
            .0
            .mapping
            .provision_sign_in(&self.0.client, sign_in)
            .await?;
        credentials.provisioned_at = Some(self.now());
        Ok(credentials)
    }

    /// Makes new SIP credentials from the current tokens (rotating the password per strategy).
    pub async fn reprovision_credentials(&self) -> Result<ProvisionedCredentials, Error> {
        let snapshot = self.snapshot();
        let tokens = snapshot.tokens.ok_or(SessionFailure::NotAuthenticated)?;
        let user_info = snapshot.user_info.ok_or(SessionFailure::NotAuthenticated)?;
        let sign_in = SignIn::restored(tokens.clone(), user_info.clone());
        let credentials = match self.provision(&sign_in).await {
            Ok(c) => c,
            Err(e) => {
                self.signed_out_if(&e)?;
                return Err(e);
            }
        };
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
        let dead = stored.tokens.is_expired_at(self.now()) && stored.tokens.refresh_token.is_none();
        let state = if dead {
            AuthState::Idle
        } else {
            AuthState::Authenticated
        };
        self.update(|s| stored.apply(s, state));
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
        self.update(|s| stored.apply(s, AuthState::Authenticated));
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
        } else if stored.sip_credentials.is_none() || self.credentials_due(now) {
            // None kept, or expired (or about to): provision again before handing them out.
            self.reprovision_credentials().await?;
            self.schedule_refresh();
        } else {
            self.schedule_refresh();
        }
        Ok(self.sip_credentials())
    }
}
