//! # sipauth-leptos: sipauth in Leptos apps
//!
//! The guide's composable and provider, in Leptos 0.8 terms (signals for Vue's refs,
//! `provide_context` / `use_context` for provide/inject):
//!
//! | The guide | Here |
//! |---|---|
//! | `useOAuth2(config)` | [`use_oauth2`] → [`UseOAuth2`] |
//! | `<OAuth2Provider>` | [`OAuth2Provider`] |
//! | `useOAuth2Provider()` | [`use_oauth2_provider`] |
//! | `useOAuth2Credentials()` | [`use_oauth2_credentials`] |
//! | `authState`, `isAuthenticated`, `userInfo`, `sipCredentials`, `tokens`, `error`, `isRefreshing` | [`UseOAuth2::state`], [`UseOAuth2::is_authenticated`], [`UseOAuth2::user_info`], [`UseOAuth2::credentials`], [`UseOAuth2::tokens`], [`UseOAuth2::error`], [`UseOAuth2::is_refreshing`] |
//! | `login()`, `handleCallback()`, `logout()`, `refreshTokens()`, `getAccessToken()` | [`UseOAuth2::login`], [`UseOAuth2::handle_callback`], [`UseOAuth2::logout`], [`UseOAuth2::refresh_tokens`], [`UseOAuth2::get_access_token`] |
//! | `isTokenExpired()`, `clearAuth()` | [`UseOAuth2::is_token_expired`], [`UseOAuth2::clear_auth`] |
//! | the session-timeout pattern (activity listeners) | [`use_inactivity_timeout`], `OAuth2Provider`'s `inactivity_timeout` |
//!
//! Every signal follows the [`sipauth::Session`]'s snapshot. Unlike the reference, unmounting
//! a component never wipes the stored session (only signing out does), callbacks work with any
//! token store (pending sign-ins can live in `sessionStorage`), and automatic refresh is the
//! session's, which keeps rescheduling itself.

use leptos::prelude::*;
use sipauth::{
    AuthState, AuthorizationOptions, CredentialMapping, LogoutReason, ProviderConfig,
    ProvisionedCredentials, Session, SessionError, SessionEvent, SessionOptions, SessionSnapshot,
    TokenSet, UserInfo,
};

/// What [`use_oauth2`] needs: the provider, the credential mapping, the session options (store,
/// refresh), and the callback path of the app.
#[derive(Clone)]
pub struct OAuth2Config {
    /// The provider and this app's registration there.
    pub provider: ProviderConfig,
    /// How identities become SIP credentials.
    pub mapping: CredentialMapping,
    /// Storage, refresh, prefix.
    pub options: SessionOptions,
}

/// Why a binding cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindingError {
    /// Called outside an [`OAuth2Provider`].
    #[error("{0} must be used within an OAuth2Provider")]
    NoProvider(&'static str),
    /// The configuration is not usable, or the sign-in failed.
    #[error("{0}")]
    Config(#[from] sipauth::Error),
    /// The browser blocked the sign-in popup: allow popups for this site, or sign in with the
    /// redirect.
    #[error("the browser blocked the sign-in window: allow popups for this site, or sign in without a popup")]
    PopupBlocked,
    /// The sign-in window was closed before the sign-in finished.
    #[error("the sign-in window was closed before the sign-in finished")]
    PopupClosed,
}

/// The name of the sign-in popup's window: its callback page hands the callback to the page that
/// opened it instead of completing the sign-in itself.
pub const POPUP_WINDOW_NAME: &str = "sipauth_signin";

/// How long a popup sign-in may take.
#[cfg(target_arch = "wasm32")]
const POPUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// The reactive session (the guide's `UseOAuth2Return`). Cheap to clone.
#[derive(Clone)]
pub struct UseOAuth2 {
    /// The session itself (every method of the library).
    pub session: Session,
    snapshot: RwSignal<SessionSnapshot>,
    /// Each end of the session the library reported, numbered, with its reason.
    ended: RwSignal<Option<(u64, LogoutReason)>>,
}

impl UseOAuth2 {
    /// The whole snapshot.
    pub fn snapshot(&self) -> Signal<SessionSnapshot> {
        self.snapshot.into()
    }

    /// The authentication state.
    pub fn state(&self) -> Signal<AuthState> {
        let s = self.snapshot;
        Signal::derive(move || s.with(|s| s.state))
    }

    /// Signed in with credentials.
    pub fn is_authenticated(&self) -> Signal<bool> {
        let s = self.snapshot;
        Signal::derive(move || {
            s.with(|s| s.state == AuthState::Authenticated && s.sip_credentials.is_some())
        })
    }

    /// Who is signed in.
    pub fn user_info(&self) -> Signal<Option<UserInfo>> {
        let s = self.snapshot;
        Signal::derive(move || s.with(|s| s.user_info.clone()))
    }

    /// The SIP credentials.
    pub fn credentials(&self) -> Signal<Option<ProvisionedCredentials>> {
        let s = self.snapshot;
        Signal::derive(move || s.with(|s| s.sip_credentials.clone()))
    }

    /// The tokens.
    pub fn tokens(&self) -> Signal<Option<TokenSet>> {
        let s = self.snapshot;
        Signal::derive(move || s.with(|s| s.tokens.clone()))
    }

    /// The last failure.
    pub fn error(&self) -> Signal<Option<SessionError>> {
        let s = self.snapshot;
        Signal::derive(move || s.with(|s| s.error.clone()))
    }

    /// Why the session last ended (`user_initiated`, `token_expired`, `refresh_failed`,
    /// `session_timeout`): the library's `Logout` event, so never for [`UseOAuth2::clear_auth`].
    pub fn last_logout(&self) -> Signal<Option<LogoutReason>> {
        let e = self.ended;
        Signal::derive(move || e.with(|e| e.map(|(_, reason)| reason)))
    }

    /// True while a refresh runs.
    pub fn is_refreshing(&self) -> Signal<bool> {
        let s = self.snapshot;
        Signal::derive(move || s.with(|s| s.is_refreshing))
    }

    /// When the access token expires (Unix seconds).
    pub fn token_expires_at(&self) -> Signal<Option<i64>> {
        let s = self.snapshot;
        Signal::derive(move || s.with(|s| s.token_expires_at))
    }

    /// Starts a sign-in: in the browser, the page goes to the provider; elsewhere the URL is
    /// returned for the caller to open.
    pub fn login(&self, options: &AuthorizationOptions) -> Result<String, sipauth::Error> {
        let request = self.session.login(options)?;
        #[cfg(target_arch = "wasm32")]
        sipauth::browser::redirect(request.url.as_str())?;
        Ok(request.url.to_string())
    }

    /// Signs in in a popup window (redirect stays the default: [`UseOAuth2::login`]): the page
    /// stays where it is, the provider opens in a window named [`POPUP_WINDOW_NAME`], and its
    /// callback (this app, on its callback path) hands the URL back by `postMessage` to this
    /// page, which completes the sign-in. Call it from a click (browsers block other popups).
    #[cfg(target_arch = "wasm32")]
    pub async fn login_popup(
        &self,
        options: &AuthorizationOptions,
    ) -> Result<ProvisionedCredentials, BindingError> {
        use std::sync::{Arc, Mutex};
        use wasm_bindgen::JsCast;
        let window = web_sys::window().ok_or(BindingError::PopupBlocked)?;
        let request = self.session.login(options)?;
        let popup = match window.open_with_url_and_target_and_features(
            request.url.as_str(),
            POPUP_WINDOW_NAME,
            "popup,width=520,height=720",
        ) {
            Ok(Some(popup)) => popup,
            _ => {
                let _ = self.session.cancel_login(&request);
                return Err(BindingError::PopupBlocked);
            }
        };
        let origin = window.location().origin().unwrap_or_default();
        let arrived: Arc<Mutex<Option<String>>> = Arc::default();
        let slot = arrived.clone();
        let listener = wasm_bindgen::closure::Closure::<dyn Fn(web_sys::MessageEvent)>::new(
            move |e: web_sys::MessageEvent| {
                // Only this origin's callback page speaks to us.
                if e.origin() != origin {
                    return;
                }
                let data = e.data();
                let kind = js_sys::Reflect::get(&data, &"type".into()).ok();
                let url = js_sys::Reflect::get(&data, &"url".into()).ok();
                if kind.and_then(|k| k.as_string()).as_deref() == Some(POPUP_WINDOW_NAME) {
                    if let Some(url) = url.and_then(|u| u.as_string()) {
                        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(url);
                    }
                }
            },
        );
        let _ =
            window.add_event_listener_with_callback("message", listener.as_ref().unchecked_ref());
        let mut waited = std::time::Duration::ZERO;
        let outcome = loop {
            waited += std::time::Duration::from_millis(200);
            sipauth::Clock::sleep(&sipauth::SystemClock, std::time::Duration::from_millis(200))
                .await;
            let url = arrived.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(url) = url {
                break Ok(url);
            }
            if popup.closed().unwrap_or(true) || waited > POPUP_TIMEOUT {
                break Err(BindingError::PopupClosed);
            }
        };
        let _ = window
            .remove_event_listener_with_callback("message", listener.as_ref().unchecked_ref());
        let _ = popup.close();
        match outcome {
            Ok(url) => Ok(self.session.handle_callback(&url).await?),
            Err(e) => {
                let _ = self.session.cancel_login(&request);
                Err(e)
            }
        }
    }

    /// Completes the sign-in from the callback URL.
    pub async fn handle_callback(
        &self,
        url: &str,
    ) -> Result<ProvisionedCredentials, sipauth::Error> {
        self.session.handle_callback(url).await
    }

    /// Signs out (revokes where the provider can); the only thing that clears the session.
    pub async fn logout(&self) -> Result<(), sipauth::Error> {
        self.session.logout().await.map(|_| ())
    }

    /// The guide's `isTokenExpired()`: the access token is due for a refresh or past expiry.
    pub fn is_token_expired(&self) -> bool {
        self.session.is_token_expired()
    }

    /// The guide's `clearAuth()`: forgets the session here without revoking it at the
    /// provider (storage, signals, refresh timer).
    pub fn clear_auth(&self) -> Result<(), sipauth::Error> {
        self.session.clear_auth()
    }

    /// Refreshes now.
    pub async fn refresh_tokens(&self) -> Result<TokenSet, sipauth::Error> {
        self.session.refresh_tokens().await
    }

    /// A valid access token, refreshed when due.
    pub async fn get_access_token(&self) -> Result<sipauth::AccessToken, sipauth::Error> {
        self.session.get_access_token().await
    }
}

/// The guide's `useOAuth2(config)`: a session whose every field is a signal. The signals
/// follow the session for as long as the calling component lives; unmounting stops the
/// following, never the session.
pub fn use_oauth2(config: OAuth2Config) -> Result<UseOAuth2, BindingError> {
    let session = Session::builder(config.provider, config.mapping)
        .options(config.options)
        .build()?;
    Ok(follow(session))
}

/// Signals following an existing session.
pub fn follow(session: Session) -> UseOAuth2 {
    let snapshot = RwSignal::new(session.snapshot());
    let mut changes = session.subscribe();
    // Set when the following component unmounts: the task stops at the next change.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    // In the browser, the page's event loop runs the follower (a no-op when the app's mount
    // already chose one).
    #[cfg(target_arch = "wasm32")]
    let _ = any_spawner::Executor::init_wasm_bindgen();
    leptos::task::spawn_local(async move {
        while changes.changed().await.is_ok() {
            if flag.load(std::sync::atomic::Ordering::Acquire) {
                break;
            }
            let now = changes.borrow_and_update().clone();
            snapshot.set(now);
        }
    });
    on_cleanup(move || stop.store(true, std::sync::atomic::Ordering::Release));
    // Every way a session ends is the library's `Logout` event, with its reason; a state
    // change to Idle is not one (a refused refresh ends in Error, `clear_auth` is no logout).
    let ended = RwSignal::new(None::<(u64, LogoutReason)>);
    session.on_event(move |event| {
        if let SessionEvent::Logout(reason) = event {
            // A no-op once the following component is gone.
            ended.try_update(|e| *e = Some((e.map_or(1, |(n, _)| n + 1), *reason)));
        }
    });
    UseOAuth2 {
        session,
        snapshot,
        ended,
    }
}

/// The guide's `<OAuth2Provider>`: makes a session available to its children
/// ([`use_oauth2_provider`], [`use_oauth2_credentials`]). With `auto_initialize` (default
/// true) it restores a stored session, or, on `callback_path` (default `/oauth/callback`),
/// completes the sign-in and leaves for `post_auth_redirect` (default `/`).
#[component]
pub fn OAuth2Provider(
    /// Provider, mapping, options.
    config: OAuth2Config,
    /// Restore or complete a sign-in when mounted.
    #[prop(optional, default = true)]
    auto_initialize: bool,
    /// The app's callback path.
    #[prop(optional, into, default = "/oauth/callback".to_string())]
    callback_path: String,
    /// Where to go after a completed sign-in.
    #[prop(optional, into, default = "/".to_string())]
    post_auth_redirect: String,
    /// Called with the credentials after a sign-in or restore.
    #[prop(optional)]
    on_authenticated: Option<Callback<ProvisionedCredentials>>,
    /// Called with each failure.
    #[prop(optional)]
    on_error: Option<Callback<SessionError>>,
    /// Called once for every end of the session, with its reason (signing out, a refused or
    /// impossible refresh, an expired stored session, the inactivity timeout); never for
    /// `clear_auth`.
    #[prop(optional)]
    on_logout: Option<Callback<LogoutReason>>,
    /// Called with each new state.
    #[prop(optional)]
    on_state_change: Option<Callback<AuthState>>,
    /// End the session after this long without user activity ([`use_inactivity_timeout`]).
    #[prop(optional)]
    inactivity_timeout: Option<std::time::Duration>,
    /// The app.
    children: Children,
) -> impl IntoView {
    match use_oauth2(config) {
        Ok(auth) => {
            provide_context(auth.clone());
            if let Some(timeout) = inactivity_timeout {
                let _monitor = use_inactivity_timeout(&auth, timeout);
            }
            let state = auth.state();
            let error = auth.error();
            Effect::new(move |previous: Option<AuthState>| {
                let now = state.get();
                if previous.is_some_and(|p| p != now) {
                    if let Some(cb) = on_state_change {
                        cb.run(now);
                    }
                }
                now
            });
            let ended = auth.ended;
            Effect::new(move |previous: Option<u64>| {
                let now = ended.get();
                let seq = now.map_or(0, |(n, _)| n);
                if let (Some((n, reason)), Some(cb)) = (now, on_logout) {
                    if previous.is_some_and(|p| p < n) || (previous.is_none() && n > 0) {
                        cb.run(reason);
                    }
                }
                seq
            });
            Effect::new(move |_| {
                if let (Some(e), Some(cb)) = (error.get(), on_error) {
                    cb.run(e);
                }
            });
            if auto_initialize {
                let auth = auth.clone();
                leptos::task::spawn_local(async move {
                    let result = initialize(&auth, &callback_path, &post_auth_redirect).await;
                    if let (Ok(Some(credentials)), Some(cb)) = (result, on_authenticated) {
                        cb.run(credentials);
                    }
                });
            }
        }
        Err(e) => {
            leptos::logging::error!("OAuth2Provider: {e}");
        }
    }
    children()
}

#[cfg(target_arch = "wasm32")]
use wasm_bindgen::JsCast;

/// Restore, or complete a callback, as the provider does when mounted.
async fn initialize(
    auth: &UseOAuth2,
    callback_path: &str,
    post_auth_redirect: &str,
) -> Result<Option<ProvisionedCredentials>, sipauth::Error> {
    #[cfg(target_arch = "wasm32")]
    if sipauth::browser::is_callback(callback_path)? {
        // In the sign-in popup: hand the callback to the page that opened it, and close.
        if let Some(window) = web_sys::window() {
            if window.name().ok().as_deref() == Some(POPUP_WINDOW_NAME) {
                if let Ok(opener) = window.opener() {
                    if !opener.is_null() && !opener.is_undefined() {
                        let message = js_sys::Object::new();
                        let _ = js_sys::Reflect::set(
                            &message,
                            &"type".into(),
                            &POPUP_WINDOW_NAME.into(),
                        );
                        let _ = js_sys::Reflect::set(
                            &message,
                            &"url".into(),
                            &sipauth::browser::current_url()?.into(),
                        );
                        let origin = window.location().origin().unwrap_or_default();
                        // Another window's object: `instanceof Window` is false across
                        // windows, so no checked cast.
                        let opener = opener.unchecked_into::<web_sys::Window>();
                        if opener.post_message(&message, &origin).is_ok() {
                            let _ = window.close();
                            return Ok(None);
                        }
                    }
                }
            }
        }
        let result = auth
            .handle_callback(&sipauth::browser::current_url()?)
            .await;
        // Done with either way: a reload must not replay the code or the provider's error.
        sipauth::browser::forget_callback(post_auth_redirect)?;
        return result.map(Some);
    }
    let _ = (callback_path, post_auth_redirect);
    auth.session.restore().await
}

/// The user activity that keeps a session alive under [`use_inactivity_timeout`].
pub const ACTIVITY_EVENTS: [&str; 4] = ["mousedown", "keydown", "touchstart", "scroll"];

/// The guide's session-timeout pattern: ends the session (reason `session_timeout`, heard by
/// `on_logout`) after `timeout` without user activity. In the browser every
/// [`ACTIVITY_EVENTS`] event on the window counts as activity; call
/// [`sipauth::InactivityMonitor::touch`] on the returned monitor for anything else. Checked
/// every quarter of the timeout (between 250 ms and 15 s); stops, and the listeners go, when
/// the calling component unmounts.
pub fn use_inactivity_timeout(
    auth: &UseOAuth2,
    timeout: std::time::Duration,
) -> std::sync::Arc<sipauth::InactivityMonitor> {
    use std::time::Duration;
    let monitor = sipauth::InactivityMonitor::new(auth.session.clone(), timeout);
    let every = (timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(15));
    let task = monitor.spawn(every);
    #[cfg(target_arch = "wasm32")]
    let listeners: Vec<_> = ACTIVITY_EVENTS
        .iter()
        .map(|name| {
            let monitor = monitor.clone();
            window_event_listener_untyped(name, move |_| monitor.touch())
        })
        .collect();
    on_cleanup(move || {
        if let Some(task) = task {
            task.abort();
        }
        #[cfg(target_arch = "wasm32")]
        for listener in listeners {
            listener.remove();
        }
    });
    monitor
}

/// The guide's `useOAuth2Provider()`: the session of the nearest [`OAuth2Provider`].
pub fn use_oauth2_provider() -> Result<UseOAuth2, BindingError> {
    use_context::<UseOAuth2>().ok_or(BindingError::NoProvider("use_oauth2_provider"))
}

/// The guide's `useOAuth2Credentials()`: the nearest provider's SIP credentials.
pub fn use_oauth2_credentials() -> Result<Signal<Option<ProvisionedCredentials>>, BindingError> {
    use_context::<UseOAuth2>()
        .map(|auth| auth.credentials())
        .ok_or(BindingError::NoProvider("use_oauth2_credentials"))
}
