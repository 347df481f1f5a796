//! The library in the browser (wasm32, feature `web`), run by wasm-bindgen-test in headless
//! Chromium: browser storage as a session store (localStorage and sessionStorage, prefixes,
//! single-use `take`, Web Locks across tabs), the JavaScript clock and timers, background work
//! on the page's event loop, and a session restored from localStorage as after a reload.
//! Run: `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p sipauth --target
//! wasm32-unknown-unknown --no-default-features --features web --test web`.

#![cfg(all(feature = "web", target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use sipauth::{Clock, SessionStore, SystemClock};
use sipauth::{WebStorage, WebStore};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn local_storage_keeps_values_under_the_prefix() {
    let a = WebStore::new(WebStorage::Local, "test_a_");
    let b = WebStore::new(WebStorage::Local, "test_b_");
    a.save("session", "{\"v\":1}").unwrap();
    b.save("session", "other").unwrap();
    assert_eq!(a.load("session").unwrap().as_deref(), Some("{\"v\":1}"));
    assert_eq!(b.load("session").unwrap().as_deref(), Some("other"));
    a.save("pending.x", "p").unwrap();
    let mut keys = a.keys("pending.").unwrap();
    keys.sort();
    assert_eq!(keys, ["pending.x"]);
    // take: once.
    assert_eq!(a.take("pending.x").unwrap().as_deref(), Some("p"));
    assert_eq!(a.take("pending.x").unwrap(), None);
    a.remove("session").unwrap();
    assert_eq!(a.load("session").unwrap(), None);
    assert!(
        b.load("session").unwrap().is_some(),
        "another prefix is untouched"
    );
    b.remove("session").unwrap();
}

#[wasm_bindgen_test]
fn session_storage_is_separate_from_local_storage() {
    let local = WebStore::new(WebStorage::Local, "sep_");
    let session = WebStore::new(WebStorage::Session, "sep_");
    session.save("pending.s", "survives the redirect").unwrap();
    assert_eq!(local.load("pending.s").unwrap(), None);
    assert_eq!(
        session.load("pending.s").unwrap().as_deref(),
        Some("survives the redirect")
    );
    session.remove("pending.s").unwrap();
}

#[wasm_bindgen_test]
fn rejects_keys_outside_the_alphabet() {
    let store = WebStore::new(WebStorage::Local, "keys_");
    for bad in ["", ".hidden", "a/b", "a b"] {
        assert!(store.save(bad, "x").is_err(), "{bad:?}");
    }
}

#[wasm_bindgen_test]
async fn the_clock_is_the_browsers_and_its_timer_waits() {
    let clock = SystemClock;
    let js_now = (js_sys::Date::now() / 1000.0) as i64;
    assert!((clock.now_unix() - js_now).abs() <= 1);
    let before = js_sys::Date::now();
    clock.sleep(Duration::from_millis(150)).await;
    assert!(js_sys::Date::now() - before >= 140.0);
}

#[wasm_bindgen_test]
async fn the_lock_orders_callers_on_one_page() {
    let store = Arc::new(WebStore::new(WebStorage::Local, "lock_"));
    let held = store.lock("session").await.unwrap();
    let other = store.clone();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = order.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let _second = other.lock("session").await.unwrap();
        seen.lock().unwrap().push("second");
    });
    SystemClock.sleep(Duration::from_millis(50)).await;
    order.lock().unwrap().push("first");
    drop(held);
    SystemClock.sleep(Duration::from_millis(50)).await;
    assert_eq!(*order.lock().unwrap(), ["first", "second"]);
}

/// The names of the Web Locks the origin holds now (`navigator.locks.query()`), as every tab
/// of the origin sees them.
async fn held_web_locks() -> Vec<String> {
    use wasm_bindgen::JsCast;
    let navigator = web_sys::window().unwrap().navigator();
    let locks = js_sys::Reflect::get(&navigator, &"locks".into()).unwrap();
    let query: js_sys::Function = js_sys::Reflect::get(&locks, &"query".into())
        .unwrap()
        .dyn_into()
        .unwrap();
    let snapshot = wasm_bindgen_futures::JsFuture::from(
        query
            .call0(&locks)
            .unwrap()
            .dyn_into::<js_sys::Promise>()
            .unwrap(),
    )
    .await
    .unwrap();
    let held: js_sys::Array = js_sys::Reflect::get(&snapshot, &"held".into())
        .unwrap()
        .dyn_into()
        .unwrap();
    held.iter()
        .filter_map(|l| js_sys::Reflect::get(&l, &"name".into()).ok()?.as_string())
        .collect()
}

#[wasm_bindgen_test]
async fn the_lock_is_the_origins_web_lock_so_other_tabs_wait_for_it() {
    // Two stores with nothing shared in memory, as two tabs have.
    let tab_a = WebStore::new(WebStorage::Local, "tabs_");
    let tab_b = Arc::new(WebStore::new(WebStorage::Local, "tabs_"));
    let held = tab_a.lock("session").await.unwrap();
    assert_eq!(held_web_locks().await, ["tabs_session"]);
    let acquired = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (flag, other) = (acquired.clone(), tab_b.clone());
    wasm_bindgen_futures::spawn_local(async move {
        let _second = other.lock("session").await.unwrap();
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    SystemClock.sleep(Duration::from_millis(100)).await;
    assert!(!acquired.load(std::sync::atomic::Ordering::SeqCst));
    drop(held);
    SystemClock.sleep(Duration::from_millis(100)).await;
    assert!(acquired.load(std::sync::atomic::Ordering::SeqCst));
    // Released again once the second holder is done.
    assert!(held_web_locks().await.is_empty());
}

#[wasm_bindgen_test]
async fn an_abandoned_lock_request_does_not_hold_the_lock_once_granted() {
    let tab_a = WebStore::new(WebStorage::Local, "abandon_");
    let tab_b = WebStore::new(WebStorage::Local, "abandon_");
    let held = tab_a.lock("session").await.unwrap();
    // Tab B gives up waiting (a timeout, a component gone): its request is dropped.
    {
        let waiting = std::pin::pin!(tab_b.lock("session"));
        let timer = std::pin::pin!(SystemClock.sleep(Duration::from_millis(50)));
        match futures_util::future::select(waiting, timer).await {
            futures_util::future::Either::Left(_) => panic!("granted while tab A held it"),
            futures_util::future::Either::Right(_) => {}
        }
    }
    drop(held);
    // The browser grants B's abandoned request next; it must let go at once.
    let again = std::pin::pin!(tab_a.lock("session"));
    let timer = std::pin::pin!(SystemClock.sleep(Duration::from_secs(2)));
    match futures_util::future::select(again, timer).await {
        futures_util::future::Either::Left((lock, _)) => drop(lock.unwrap()),
        futures_util::future::Either::Right(_) => panic!("the abandoned request kept the lock"),
    }
    // Releasing settles a promise: the lock manager lets go on a later turn.
    SystemClock.sleep(Duration::from_millis(100)).await;
    assert!(held_web_locks().await.is_empty());
}

fn provider() -> sipauth::ProviderConfig {
    sipauth::ProviderConfig::custom(
        sipauth::ClientRegistration::public("web-app", "http://127.0.0.1:8000/oauth/callback"),
        "http://127.0.0.1:9/authorize",
        "http://127.0.0.1:9/token",
    )
    .unwrap()
    .with_scopes(["profile"])
}

fn session(store: Arc<dyn SessionStore>) -> sipauth::Session {
    let mapping = sipauth::CredentialMapping::new(
        "sip.example.com",
        "wss://sip.example.com/ws",
        sipauth::PasswordStrategy::AccessToken,
    );
    sipauth::Session::builder(provider(), mapping)
        .options(sipauth::SessionOptions {
            auto_refresh: false,
            store,
            ..sipauth::SessionOptions::default()
        })
        .build()
        .unwrap()
}

#[wasm_bindgen_test]
async fn a_session_in_local_storage_is_restored_as_after_a_reload() {
    let store: Arc<dyn SessionStore> = Arc::new(WebStore::new(WebStorage::Local, "restore_"));
    let now = SystemClock.now_unix();
    let record = serde_json::json!({
        "version": 1,
        "tokens": {
            "access_token": "browser-access-token", "token_type": "Bearer", "expires_in": 3600,
            "expires_at": now + 3600
        },
        "user_info": { "sub": "u1", "email": "ada@example.com", "email_verified": true, "name": "Ada" },
        "sip_credentials": null,
        "saved_at": now
    });
    store.save("sipauth_session", &record.to_string()).unwrap();
    // A new page: a new session object over the same storage.
    let reloaded = session(store.clone());
    let credentials = reloaded.restore().await.unwrap().expect("a session");
    assert_eq!(credentials.sip_uri, "sip:ada@sip.example.com");
    assert_eq!(credentials.password.secret(), "browser-access-token");
    assert!(reloaded.is_authenticated());
    // Signing out clears the storage.
    reloaded.logout().await.unwrap();
    assert_eq!(store.load("sipauth_session").unwrap(), None);
}

#[wasm_bindgen_test]
fn a_handled_callback_leaves_the_address_bar_and_history() {
    let path = url::Url::parse(&sipauth::browser::current_url().unwrap())
        .unwrap()
        .path()
        .to_string();
    web_sys::window()
        .unwrap()
        .history()
        .unwrap()
        .replace_state_with_url(
            &wasm_bindgen::JsValue::NULL,
            "",
            Some(&format!("{path}?code=c1&state=s1")),
        )
        .unwrap();
    assert!(sipauth::browser::is_callback(&path).unwrap());
    assert!(!sipauth::browser::is_callback("/elsewhere").unwrap());
    sipauth::browser::forget_callback(&path).unwrap();
    let now = sipauth::browser::current_url().unwrap();
    assert!(!now.contains("code="), "{now}");
    assert!(!sipauth::browser::is_callback(&path).unwrap());
}

#[wasm_bindgen_test]
fn a_started_sign_in_waits_in_session_storage_while_tokens_stay_in_memory() {
    let pending: Arc<dyn SessionStore> = Arc::new(WebStore::new(WebStorage::Session, "redirect_"));
    let mapping = sipauth::CredentialMapping::new(
        "sip.example.com",
        "wss://sip.example.com/ws",
        sipauth::PasswordStrategy::AccessToken,
    );
    let session = sipauth::Session::builder(provider(), mapping)
        .options(sipauth::SessionOptions {
            auto_refresh: false,
            pending_store: Some(pending.clone()),
            ..sipauth::SessionOptions::default()
        })
        .build()
        .unwrap();
    let request = session
        .login(&sipauth::AuthorizationOptions::default())
        .unwrap();
    let keys = pending.keys("").unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].contains(request.state.secret()), "{keys:?}");
    pending.remove(&keys[0]).unwrap();
}

#[wasm_bindgen_test]
fn a_relative_api_endpoint_resolves_against_the_pages_origin() {
    let strategy = sipauth::PasswordStrategy::api_endpoint(
        "/api/sip/provision",
        sipauth::sip::ApiMethod::Post,
    )
    .unwrap();
    let sipauth::PasswordStrategy::ApiGenerated { endpoint, .. } = strategy else {
        panic!("the api strategy");
    };
    let origin = web_sys::window().unwrap().location().origin().unwrap();
    assert_eq!(endpoint.as_str(), format!("{origin}/api/sip/provision"));
    assert!(
        sipauth::PasswordStrategy::api_endpoint("//evil.example/x", sipauth::sip::ApiMethod::Post)
            .is_err(),
        "a scheme-relative URL is not a path on the page's origin"
    );
}

#[wasm_bindgen_test]
fn a_callback_is_recognised_in_the_query_and_in_the_fragment() {
    let window = web_sys::window().unwrap();
    let history = window.history().unwrap();
    let before = window.location().href().unwrap();
    for (url, expected) in [
        ("/cb?code=c&state=s", true),
        ("/cb#code=c&state=s", true),
        ("/cb#error=access_denied&state=s", true),
        ("/cb#section-2", false),
        ("/other?code=c&state=s", false),
    ] {
        history
            .replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(url))
            .unwrap();
        assert_eq!(
            sipauth::browser::is_callback("/cb").unwrap(),
            expected,
            "{url}"
        );
    }
    history
        .replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&before))
        .unwrap();
}
