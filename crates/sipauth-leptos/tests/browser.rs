//! The bindings in headless Chromium (wasm-bindgen-test): the injection hooks fail with the
//! guide's message outside a provider; inside one, a session stored in localStorage is restored
//! into the signals (as after a reload) and `on_authenticated` is called; disposing the
//! provider's owner (unmounting) leaves the stored session alone; the provider's callbacks hear
//! every state change, each failure and the sign-out; `on_logout` fires exactly once per end of
//! the session with its reason (signing out, an expired stored session, a refused refresh, the
//! service reporting a back-channel logout) and
//! never for `clear_auth`; `is_refreshing` and the `Refreshing` state follow a refresh.

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use leptos::prelude::*;
use sipauth::{Clock, SessionStore, SystemClock};
use sipauth::{WebStorage, WebStore};
use sipauth_leptos::{
    use_oauth2_credentials, use_oauth2_provider, OAuth2Config, OAuth2Provider, OAuth2ProviderProps,
};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn config(store: Arc<dyn SessionStore>) -> OAuth2Config {
    let provider = sipauth::ProviderConfig::custom(
        sipauth::ClientRegistration::public("leptos-app", "http://127.0.0.1:8000/oauth/callback"),
        "http://127.0.0.1:9/authorize",
        "http://127.0.0.1:9/token",
    )
    .unwrap()
    .with_scopes(["profile"]);
    OAuth2Config {
        provider,
        mapping: sipauth::CredentialMapping::new(
            "sip.example.com",
            "wss://sip.example.com/ws",
            sipauth::PasswordStrategy::AccessToken,
        ),
        options: sipauth::SessionOptions {
            auto_refresh: false,
            store,
            ..sipauth::SessionOptions::default()
        },
    }
}

fn seed(store: &dyn SessionStore) {
    let now = SystemClock.now_unix();
    let record = format!(
        r#"{{"version":1,"tokens":{{"access_token":"leptos-token","token_type":"Bearer","expires_in":3600,"expires_at":{}}},"user_info":{{"sub":"u1","email":"lee@example.com","email_verified":true,"name":"Lee"}},"sip_credentials":null,"saved_at":{now}}}"#,
        now + 3600
    );
    store.save("sipauth_session", &record).unwrap();
}

#[wasm_bindgen_test]
fn rejects_the_hooks_outside_a_provider_with_the_guides_message() {
    let owner = Owner::new();
    owner.with(|| {
        let e = use_oauth2_provider().err().unwrap();
        assert_eq!(
            e.to_string(),
            "use_oauth2_provider must be used within an OAuth2Provider"
        );
        let e = use_oauth2_credentials().err().unwrap();
        assert_eq!(
            e.to_string(),
            "use_oauth2_credentials must be used within an OAuth2Provider"
        );
    });
}

#[wasm_bindgen_test]
async fn a_stored_session_is_restored_into_the_signals_and_survives_unmounting() {
    let store: Arc<dyn SessionStore> = Arc::new(WebStore::new(WebStorage::Local, "leptos_"));
    seed(store.as_ref());
    let seen: Arc<Mutex<Option<Signal<Option<sipauth::ProvisionedCredentials>>>>> =
        Arc::new(Mutex::new(None));
    let authenticated = Arc::new(Mutex::new(None::<String>));
    let owner = Owner::new();
    {
        let (seen, authenticated) = (seen.clone(), authenticated.clone());
        let store = store.clone();
        owner.with(move || {
            let props = OAuth2ProviderProps::builder()
                .config(config(store))
                .on_authenticated(Callback::new(move |c: sipauth::ProvisionedCredentials| {
                    *authenticated.lock().unwrap() = Some(c.sip_uri);
                }))
                .children(Box::new(move || {
                    *seen.lock().unwrap() = Some(use_oauth2_credentials().unwrap());
                    ().into_any()
                }))
                .build();
            let _view = OAuth2Provider(props);
        });
    }
    // The restore runs on the page's event loop.
    for _ in 0..50 {
        if authenticated.lock().unwrap().is_some() {
            break;
        }
        SystemClock.sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        authenticated.lock().unwrap().as_deref(),
        Some("sip:lee@sip.example.com")
    );
    let credentials = seen.lock().unwrap().unwrap();
    SystemClock.sleep(Duration::from_millis(50)).await;
    let uri = owner.with(|| credentials.get_untracked().map(|c| c.sip_uri));
    assert_eq!(uri.as_deref(), Some("sip:lee@sip.example.com"));
    // Unmounting the provider does not sign anyone out.
    owner.cleanup();
    drop(owner);
    assert!(store.load("sipauth_session").unwrap().is_some());
    store.remove("sipauth_session").unwrap();
}

#[wasm_bindgen_test]
async fn the_provider_reports_state_changes_errors_and_logout_to_its_callbacks() {
    let store: Arc<dyn SessionStore> = Arc::new(WebStore::new(WebStorage::Local, "leptos_cb_"));
    seed(store.as_ref());
    let states = Arc::new(Mutex::new(Vec::<sipauth::AuthState>::new()));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let logouts = Arc::new(Mutex::new(0));
    let auth = Arc::new(Mutex::new(None::<sipauth_leptos::UseOAuth2>));
    let owner = Owner::new();
    {
        let (states, errors, logouts, auth) = (
            states.clone(),
            errors.clone(),
            logouts.clone(),
            auth.clone(),
        );
        let store = store.clone();
        owner.with(move || {
            let props = OAuth2ProviderProps::builder()
                .config(config(store))
                .on_state_change(Callback::new(move |s| states.lock().unwrap().push(s)))
                .on_error(Callback::new(move |e: sipauth::SessionError| {
                    errors.lock().unwrap().push(e.code)
                }))
                .on_logout(Callback::new(move |reason: sipauth::LogoutReason| {
                    assert_eq!(reason, sipauth::LogoutReason::UserInitiated);
                    *logouts.lock().unwrap() += 1
                }))
                .children(Box::new(move || {
                    *auth.lock().unwrap() = Some(use_oauth2_provider().unwrap());
                    ().into_any()
                }))
                .build();
            let _view = OAuth2Provider(props);
        });
    }
    let wait_for = |what: &'static str, done: Box<dyn Fn() -> bool>| async move {
        for _ in 0..100 {
            if done() {
                return;
            }
            SystemClock.sleep(Duration::from_millis(20)).await;
        }
        panic!("never happened: {what}");
    };
    let seen = states.clone();
    wait_for(
        "restored",
        Box::new(move || {
            seen.lock()
                .unwrap()
                .contains(&sipauth::AuthState::Authenticated)
        }),
    )
    .await;
    let auth = auth.lock().unwrap().clone().unwrap();
    // A callback whose state this page never issued: refused, and the failure is reported.
    let refused = auth
        .handle_callback("http://127.0.0.1:8000/oauth/callback?code=c&state=forged")
        .await;
    assert_eq!(
        refused.err().map(|e| e.code().to_string()).as_deref(),
        Some("invalid_state")
    );
    let seen = errors.clone();
    wait_for(
        "the error reported",
        Box::new(move || seen.lock().unwrap().contains(&"invalid_state".to_string())),
    )
    .await;
    assert_eq!(*logouts.lock().unwrap(), 0);
    // Signing out: the state goes back to idle and on_logout hears it once.
    auth.logout().await.unwrap();
    let seen = logouts.clone();
    wait_for(
        "the logout reported",
        Box::new(move || *seen.lock().unwrap() == 1),
    )
    .await;
    assert_eq!(
        states.lock().unwrap().last(),
        Some(&sipauth::AuthState::Idle)
    );
    assert!(store.load("sipauth_session").unwrap().is_none());
    owner.cleanup();
}

/// A provider's token endpoint, answering every refresh with `status` and `body` after
/// `delay`.
#[derive(Debug)]
struct TokenEndpoint {
    status: u16,
    body: &'static str,
    delay: Duration,
}

impl sipauth::Transport for TokenEndpoint {
    fn send<'a>(
        &'a self,
        _endpoint: sipauth::Endpoint,
        _request: sipauth::HttpRequest,
        _limit: usize,
    ) -> sipauth::BoxFuture<'a, Result<sipauth::RawResponse, sipauth::Error>> {
        Box::pin(async move {
            SystemClock.sleep(self.delay).await;
            Ok(sipauth::RawResponse {
                status: self.status,
                content_type: "application/json".into(),
                www_authenticate: None,
                body: self.body.as_bytes().to_vec(),
            })
        })
    }
}

/// A session stored with a refresh token, whose access token expires in `expires_in` s.
fn seed_refreshable(store: &dyn SessionStore, expires_in: i64) {
    let now = SystemClock.now_unix();
    let record = format!(
        r#"{{"version":1,"tokens":{{"access_token":"old","token_type":"Bearer","refresh_token":"rt","expires_in":{expires_in},"expires_at":{}}},"user_info":{{"sub":"u1","email":"lee@example.com","email_verified":true,"name":"Lee"}},"sip_credentials":null,"saved_at":{now}}}"#,
        now + expires_in
    );
    store.save("sipauth_session", &record).unwrap();
}

/// A session over `store` whose provider's token endpoint is `endpoint`, followed by signals.
fn followed(store: Arc<dyn SessionStore>, endpoint: TokenEndpoint) -> sipauth_leptos::UseOAuth2 {
    let config = config(store);
    let session = sipauth::Session::builder(config.provider, config.mapping)
        .options(config.options)
        .http(sipauth::HttpClient::with_transport(endpoint))
        .build()
        .unwrap();
    sipauth_leptos::follow(session)
}

async fn settle() {
    SystemClock.sleep(Duration::from_millis(60)).await;
}

#[wasm_bindgen_test]
async fn a_refused_refresh_ends_the_session_once_and_clear_auth_is_no_logout() {
    let store: Arc<dyn SessionStore> = Arc::new(WebStore::new(WebStorage::Local, "leptos_rf_"));
    seed_refreshable(store.as_ref(), 3600);
    let owner = Owner::new();
    let auth = owner.with(|| {
        followed(
            store.clone(),
            TokenEndpoint {
                status: 400,
                body: r#"{"error":"invalid_grant"}"#,
                delay: Duration::ZERO,
            },
        )
    });
    assert!(auth.session.restore().await.unwrap().is_some());
    settle().await;
    let last = auth.last_logout();
    assert_eq!(owner.with(|| last.get_untracked()), None);
    // The provider refuses the refresh token: the session ends (its state is Error, not Idle).
    assert!(auth.refresh_tokens().await.is_err());
    settle().await;
    assert_eq!(
        owner.with(|| last.get_untracked()),
        Some(sipauth::LogoutReason::RefreshFailed)
    );
    assert_eq!(auth.session.state(), sipauth::AuthState::Error);
    // Clearing the error is no second logout; nothing is revoked (no request at all).
    let seq_before = owner.with(|| auth.snapshot().get_untracked().generation);
    auth.clear_auth().unwrap();
    settle().await;
    assert_eq!(
        owner.with(|| last.get_untracked()),
        Some(sipauth::LogoutReason::RefreshFailed)
    );
    assert_eq!(auth.session.state(), sipauth::AuthState::Idle);
    assert!(owner.with(|| auth.snapshot().get_untracked().generation) > seq_before);
    assert!(store.load("sipauth_session").unwrap().is_none());
    owner.cleanup();
}

#[wasm_bindgen_test]
async fn the_provider_calls_on_logout_once_for_an_expired_stored_session() {
    let store: Arc<dyn SessionStore> = Arc::new(WebStore::new(WebStorage::Local, "leptos_exp_"));
    // Expired an hour ago, and no refresh token: restoring drops it.
    let now = SystemClock.now_unix();
    let record = format!(
        r#"{{"version":1,"tokens":{{"access_token":"gone","token_type":"Bearer","expires_in":60,"expires_at":{}}},"user_info":{{"sub":"u1","name":"Lee"}},"sip_credentials":null,"saved_at":{}}}"#,
        now - 3600,
        now - 3660
    );
    store.save("sipauth_session", &record).unwrap();
    let reasons = Arc::new(Mutex::new(Vec::<sipauth::LogoutReason>::new()));
    let owner = Owner::new();
    {
        let reasons = reasons.clone();
        let store = store.clone();
        owner.with(move || {
            let props = OAuth2ProviderProps::builder()
                .config(config(store))
                .on_logout(Callback::new(move |r| reasons.lock().unwrap().push(r)))
                .children(Box::new(|| ().into_any()))
                .build();
            let _view = OAuth2Provider(props);
        });
    }
    for _ in 0..50 {
        if !reasons.lock().unwrap().is_empty() {
            break;
        }
        SystemClock.sleep(Duration::from_millis(20)).await;
    }
    settle().await;
    assert_eq!(
        *reasons.lock().unwrap(),
        [sipauth::LogoutReason::TokenExpired],
        "once, with its reason"
    );
    assert!(store.load("sipauth_session").unwrap().is_none());
    owner.cleanup();
}

#[wasm_bindgen_test]
async fn is_refreshing_and_the_refreshing_state_follow_a_refresh() {
    let store: Arc<dyn SessionStore> = Arc::new(WebStore::new(WebStorage::Local, "leptos_ing_"));
    seed_refreshable(store.as_ref(), 3600);
    let owner = Owner::new();
    let auth = owner.with(|| {
        followed(
            store.clone(),
            TokenEndpoint {
                status: 200,
                body: r#"{"access_token":"new","token_type":"Bearer","expires_in":3600}"#,
                delay: Duration::from_millis(300),
            },
        )
    });
    auth.session.restore().await.unwrap();
    settle().await;
    let refreshing = auth.is_refreshing();
    let state = auth.state();
    assert!(!owner.with(|| refreshing.get_untracked()));
    let task = auth.clone();
    let done = Arc::new(Mutex::new(None));
    let out = done.clone();
    leptos::task::spawn_local(async move {
        *out.lock().unwrap() = Some(task.refresh_tokens().await.is_ok());
    });
    SystemClock.sleep(Duration::from_millis(120)).await;
    assert!(
        owner.with(|| refreshing.get_untracked()),
        "during the refresh"
    );
    assert_eq!(
        owner.with(|| state.get_untracked()),
        sipauth::AuthState::Refreshing
    );
    for _ in 0..50 {
        if done.lock().unwrap().is_some() {
            break;
        }
        SystemClock.sleep(Duration::from_millis(20)).await;
    }
    settle().await;
    assert_eq!(*done.lock().unwrap(), Some(true));
    assert!(!owner.with(|| refreshing.get_untracked()), "after it");
    assert_eq!(
        owner.with(|| state.get_untracked()),
        sipauth::AuthState::Authenticated
    );
    assert_eq!(owner.with(|| auth.last_logout().get_untracked()), None);
    store.remove("sipauth_session").unwrap();
    owner.cleanup();
}

#[wasm_bindgen_test]
async fn inactivity_ends_the_session_with_session_timeout_and_activity_keeps_it() {
    let store: Arc<dyn SessionStore> = Arc::new(WebStore::new(WebStorage::Local, "leptos_idle_"));
    seed(store.as_ref());
    let owner = Owner::new();
    let auth = owner.with(|| sipauth_leptos::use_oauth2(config(store.clone())).unwrap());
    auth.session.restore().await.unwrap();
    let _monitor =
        owner.with(|| sipauth_leptos::use_inactivity_timeout(&auth, Duration::from_secs(2)));
    let window = web_sys::window().unwrap();
    // Four seconds of typing and scrolling: twice the timeout, and still signed in.
    for i in 0..16 {
        let kind = sipauth_leptos::ACTIVITY_EVENTS[i % 4];
        window
            .dispatch_event(&web_sys::Event::new(kind).unwrap())
            .unwrap();
        SystemClock.sleep(Duration::from_millis(250)).await;
    }
    assert!(
        auth.session.is_authenticated(),
        "activity keeps the session"
    );
    assert_eq!(owner.with(|| auth.last_logout().get_untracked()), None);
    // Then nothing: the session ends with its reason.
    for _ in 0..40 {
        if !auth.session.is_authenticated() {
            break;
        }
        SystemClock.sleep(Duration::from_millis(100)).await;
    }
    settle().await;
    assert!(!auth.session.is_authenticated());
    assert_eq!(
        owner.with(|| auth.last_logout().get_untracked()),
        Some(sipauth::LogoutReason::SessionTimeout)
    );
    assert!(store.load("sipauth_session").unwrap().is_none());
    owner.cleanup();
}

#[wasm_bindgen_test]
async fn a_back_channel_logout_reported_by_the_service_ends_the_session_with_its_reason() {
    let store: Arc<dyn SessionStore> = Arc::new(WebStore::new(WebStorage::Local, "leptos_bcl_"));
    // Stored without credentials: restoring provisions at the service, which says the provider
    // signed the person out after this token was issued.
    seed(store.as_ref());
    let mut config = config(store.clone());
    config.mapping.password = sipauth::PasswordStrategy::api(
        "http://127.0.0.1:9/api/sip/provision".parse().unwrap(),
        sipauth::sip::ApiMethod::Post,
    );
    let owner = Owner::new();
    let auth = owner.with(|| {
        let session = sipauth::Session::builder(config.provider, config.mapping)
            .options(config.options)
            .http(sipauth::HttpClient::with_transport(TokenEndpoint {
                status: 401,
                body: r#"{"error":"signed_out","error_description":"sign in again"}"#,
                delay: Duration::ZERO,
            }))
            .build()
            .unwrap();
        sipauth_leptos::follow(session)
    });
    let err = auth.session.restore().await.unwrap_err();
    assert_eq!(err.code(), "signed_out");
    settle().await;
    assert_eq!(
        owner.with(|| auth.last_logout().get_untracked()),
        Some(sipauth::LogoutReason::BackChannelLogout)
    );
    assert_eq!(auth.session.state(), sipauth::AuthState::Idle);
    assert!(store.load("sipauth_session").unwrap().is_none());
    owner.cleanup();
}
