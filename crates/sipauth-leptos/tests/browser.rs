//! The bindings in headless Chromium (wasm-bindgen-test): the injection hooks fail with the
//! guide's message outside a provider; inside one, a session stored in localStorage is restored
//! into the signals (as after a reload) and `on_authenticated` is called; disposing the
//! provider's owner (unmounting) leaves the stored session alone.

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use leptos::prelude::*;
use sipauth::storage::{WebStorage, WebStore};
use sipauth::{Clock, SessionStore, SystemClock};
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
