//! The session against the real oidc-provider: states and events, auto refresh over several
//! cycles (5 s access tokens, rotating refresh tokens), single-flight refresh counted at the wire,
//! two OS processes on one file store, revocation checked by introspection, restore after a
//! restart, corrupt and SIGKILLed storage. Time-driven cases move a ManualClock.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use serde_json::json;
use sipauth::RetryPolicy;
use sipauth::{
    AuthState, AuthorizationOptions, ClientRegistration, CredentialMapping, Error, FileStore,
    HttpClient, LogoutReason, ManualClock, PasswordStrategy, ProviderConfig, Session, SessionEvent,
    SessionOptions, SessionStore,
};
use sipauth_testkit::browser::Browser;
use sipauth_testkit::proxy::CountingProxy;
use sipauth_testkit::stub::{Canned, Stub};
use sipauth_testkit::{clients, introspect_active, oidc_issuer};

const REDIRECT: &str = "http://127.0.0.1:5557/callback";

fn mapping() -> CredentialMapping {
    CredentialMapping::new(
        "sip.example.com",
        "ws://127.0.0.1:8088",
        PasswordStrategy::AccessToken,
    )
}

fn temp_store(name: &str) -> (PathBuf, Arc<FileStore>) {
    let dir = std::env::temp_dir().join(format!(
        "sipauth-session-{name}-{}-{}",
        std::process::id(),
        sipauth::random_urlsafe(4).unwrap()
    ));
    let store = Arc::new(FileStore::new(&dir).unwrap());
    (dir, store)
}

async fn provider(client_id: &str) -> ProviderConfig {
    let http = HttpClient::new().unwrap();
    ProviderConfig::discover(
        &http,
        &oidc_issuer(),
        ClientRegistration::public(client_id, REDIRECT),
    )
    .await
    .unwrap()
}

struct Setup {
    client_id: &'static str,
    store: Option<Arc<dyn SessionStore>>,
    clock: Option<ManualClock>,
    token_endpoint: Option<String>,
    auto_refresh: bool,
}

impl Setup {
    fn new(client_id: &'static str) -> Self {
        Self {
            client_id,
            store: None,
            clock: None,
            token_endpoint: None,
            auto_refresh: false,
        }
    }

    async fn session(&self) -> Session {
        let mut p = provider(self.client_id).await;
        if let Some(endpoint) = &self.token_endpoint {
            p.token_endpoint = endpoint.parse().unwrap();
        }
        let mut options = SessionOptions {
            auto_refresh: self.auto_refresh,
            ..SessionOptions::default()
        };
        if let Some(store) = &self.store {
            options.store = store.clone();
        }
        let mut builder = Session::builder(p, mapping()).options(options);
        if let Some(clock) = &self.clock {
            builder = builder.clock(Arc::new(clock.clone()));
        }
        builder.build().unwrap()
    }
}

async fn sign_in(session: &Session, login: &str) {
    let request = session.login(&AuthorizationOptions::default()).unwrap();
    let callback = Browser::new()
        .unwrap()
        .sign_in(request.url.as_str(), login, REDIRECT)
        .await
        .unwrap();
    session.handle_callback(&callback).await.unwrap();
}

fn record_events(session: &Session) -> Arc<Mutex<Vec<SessionEvent>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    session.on_event(move |e| sink.lock().unwrap().push(e.clone()));
    seen
}

#[tokio::test]
async fn sign_in_walks_through_every_state_and_reports_it() {
    let session = Setup::new(clients::PUBLIC).session().await;
    let events = record_events(&session);
    let mut watch = session.subscribe();
    sign_in(&session, "erin").await;
    let states: Vec<(AuthState, AuthState)> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            SessionEvent::StateChanged { new, old } => Some((*old, *new)),
            _ => None,
        })
        .collect();
    use AuthState::*;
    assert_eq!(
        states,
        [
            (Idle, Redirecting),
            (Redirecting, ExchangingCode),
            (ExchangingCode, FetchingUserInfo),
            (FetchingUserInfo, Provisioning),
            (Provisioning, Authenticated)
        ]
    );
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, SessionEvent::CredentialsProvisioned(c) if c.username == "erin")));
    assert!(watch.has_changed().unwrap());
    let snap = watch.borrow_and_update().clone();
    assert!(snap.is_authenticated());
    assert_eq!(snap.user_info.unwrap().sub, "erin");
    assert_eq!(
        snap.sip_credentials.unwrap().sip_uri,
        "sip:erin@sip.example.com"
    );
    assert!(snap.token_expires_at.is_some());
}

#[tokio::test]
async fn rejects_a_bad_callback_without_keeping_partial_state() {
    let session = Setup::new(clients::PUBLIC).session().await;
    session.login(&AuthorizationOptions::default()).unwrap();
    let err = session
        .handle_callback(&format!("{REDIRECT}?code=x&state=forged"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_state");
    let snap = session.snapshot();
    assert_eq!(snap.state, AuthState::Error);
    assert_eq!(snap.error.unwrap().code, "invalid_state");
    assert!(snap.tokens.is_none() && snap.user_info.is_none() && snap.sip_credentials.is_none());
}

#[tokio::test]
async fn auto_refresh_runs_before_expiry_over_several_cycles() {
    // 5 s access tokens and the default 300 s threshold: refresh at half-life, again and again.
    // The timer sleeps by the session's clock: the test moves it, nothing waits for real.
    let clock = ManualClock::starting_now();
    let mut setup = Setup::new(clients::SHORT_LIVED);
    setup.auto_refresh = true;
    setup.clock = Some(clock.clone());
    let session = setup.session().await;
    let mut events = session.events();
    sign_in(&session, "frank").await;
    let first = session.snapshot().tokens.unwrap().access_token;
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let due = session.next_refresh_at().expect("a refresh is scheduled");
        let token = session.snapshot().tokens.unwrap();
        assert!(due < token.expires_at.unwrap(), "scheduled before expiry");
        // Nothing is refreshed before the clock reaches the schedule.
        while let Ok(event) = tokio::time::timeout(Duration::from_millis(300), events.recv()).await
        {
            assert!(
                !matches!(event.unwrap(), SessionEvent::TokensRefreshed { .. }),
                "refreshed before its time"
            );
        }
        clock.set(due);
        loop {
            let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
                .await
                .expect("the refresh, once the clock reached its time")
                .unwrap();
            if let SessionEvent::TokensRefreshed { expires_at } = event {
                seen.push(expires_at.unwrap());
                assert_eq!(session.snapshot().state, AuthState::Authenticated);
                break;
            }
        }
    }
    assert!(seen.windows(2).all(|w| w[1] > w[0]));
    assert_ne!(session.snapshot().tokens.unwrap().access_token, first);
    assert!(session.next_refresh_at().is_some(), "still scheduled");
    session.logout().await.unwrap();
    assert!(session.next_refresh_at().is_none());
}

#[tokio::test]
async fn a_thousand_concurrent_callers_share_one_token_request() {
    let proxy = CountingProxy::start(&oidc_issuer()).await.unwrap();
    let clock = ManualClock::starting_now();
    let mut setup = Setup::new(clients::PUBLIC);
    setup.clock = Some(clock.clone());
    setup.token_endpoint = Some(format!("{}/token", proxy.base));
    let session = setup.session().await;
    sign_in(&session, "gina").await;
    assert_eq!(proxy.count("/token"), 1, "the code exchange");
    let before = session.snapshot().tokens.unwrap().access_token;

    // Inside the 300 s threshold of the 3600 s token.
    clock.advance(Duration::from_secs(3600 - 200));
    assert!(session.is_token_expired());
    let results = join_all((0..1000).map(|_| session.get_access_token())).await;
    let tokens: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        proxy.count("/token"),
        2,
        "exactly one refresh for 1000 callers"
    );
    assert!(tokens.iter().all(|t| *t == tokens[0]));
    assert_ne!(tokens[0], before);
    // A valid token is returned without any request.
    session.get_access_token().await.unwrap();
    assert_eq!(proxy.count("/token"), 2);
}

fn worker() -> PathBuf {
    // target/debug/deps/it-<hash> -> target/debug/examples/session_worker
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("session_worker")
}

#[tokio::test]
async fn two_processes_on_one_file_store_never_spend_a_refresh_token_twice() {
    let (dir, store) = temp_store("two-procs");
    let mut setup = Setup::new(clients::PUBLIC);
    setup.store = Some(store.clone());
    let session = setup.session().await;
    sign_in(&session, "hank").await;
    drop(session);

    let spawn = || {
        tokio::process::Command::new(worker())
            .args([
                "refresh",
                dir.to_str().unwrap(),
                &oidc_issuer(),
                clients::PUBLIC,
                "8",
            ])
            .output()
    };
    let (a, b) = tokio::join!(spawn(), spawn());
    for out in [a.unwrap(), b.unwrap()] {
        assert!(
            out.status.success(),
            "worker failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The grant survived (oidc-provider revokes it on refresh-token reuse): one more refresh works.
    let session = setup.session().await;
    session.restore().await.unwrap().unwrap();
    session.refresh_tokens().await.unwrap();
}

#[tokio::test]
async fn logout_revokes_refresh_and_access_tokens() {
    let session = Setup::new(clients::PUBLIC).session().await;
    let events = record_events(&session);
    sign_in(&session, "ivan").await;
    let tokens = session.snapshot().tokens.unwrap();
    let issuer = oidc_issuer();
    let rt = tokens.refresh_token.clone().unwrap();
    assert!(introspect_active(&issuer, tokens.access_token.secret())
        .await
        .unwrap());
    assert!(introspect_active(&issuer, rt.secret()).await.unwrap());
    session.logout().await.unwrap();
    assert!(!introspect_active(&issuer, tokens.access_token.secret())
        .await
        .unwrap());
    assert!(!introspect_active(&issuer, rt.secret()).await.unwrap());
    let snap = session.snapshot();
    assert_eq!(snap.state, AuthState::Idle);
    assert!(snap.tokens.is_none() && snap.sip_credentials.is_none());
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, SessionEvent::Logout(LogoutReason::UserInitiated))));
}

#[tokio::test]
async fn restores_after_a_restart_and_refreshes_an_expired_session() {
    let (_dir, store) = temp_store("restore");
    let clock = ManualClock::starting_now();
    let mut setup = Setup::new(clients::PUBLIC);
    setup.store = Some(store.clone());
    setup.clock = Some(clock.clone());
    let first = setup.session().await;
    sign_in(&first, "judy").await;
    let credentials = first.sip_credentials().unwrap();
    let stored_rt = first.snapshot().tokens.unwrap().refresh_token.unwrap();
    drop(first);

    // A new process: same store, valid session.
    let second = setup.session().await;
    assert_eq!(second.restore().await.unwrap().unwrap(), credentials);
    assert!(second.is_authenticated());
    drop(second);

    // Later, just past the access token's expiry (the provider's own clock is real, so its fresh
    // ID token must stay inside the 60 s leeway): restore refreshes, re-provisions and persists.
    clock.advance(Duration::from_secs(3610));
    let third = setup.session().await;
    let restored = third.restore().await.unwrap().unwrap();
    assert_eq!(restored.username, "judy");
    assert_ne!(
        restored.password, credentials.password,
        "access_token strategy: new password"
    );
    let snap = third.snapshot();
    assert_eq!(snap.state, AuthState::Authenticated);
    let new_rt = snap.tokens.unwrap().refresh_token.unwrap();
    assert_ne!(new_rt, stored_rt);
    let on_disk: serde_json::Value =
        serde_json::from_str(&store.load("sipauth_session").unwrap().unwrap()).unwrap();
    assert_eq!(on_disk["tokens"]["refresh_token"], new_rt.secret());
}

#[tokio::test]
async fn rejects_corrupt_storage_saying_so_and_keeps_the_file_aside() {
    let (dir, store) = temp_store("corrupt");
    store.save("sipauth_session", "{ this is not json").unwrap();
    let mut setup = Setup::new(clients::PUBLIC);
    setup.store = Some(store.clone());
    let session = setup.session().await;
    let err = session.restore().await.unwrap_err();
    assert_eq!(err.code(), "unreadable_session");
    assert!(err.to_string().contains("not JSON"), "{err}");
    assert_eq!(session.state(), AuthState::Idle);
    assert_eq!(store.load("sipauth_session").unwrap(), None);
    let aside: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains("unreadable"))
        .collect();
    assert_eq!(aside.len(), 1, "the corrupt record is kept aside");
    // Nothing stored any more: the next restore is a plain "not signed in".
    assert_eq!(session.restore().await.unwrap(), None);
}

#[tokio::test]
async fn rejects_a_session_record_of_an_unknown_version() {
    let (_dir, store) = temp_store("version");
    store
        .save(
            "sipauth_session",
            r#"{"version":99,"tokens":{},"user_info":{"sub":"x"},"saved_at":0}"#,
        )
        .unwrap();
    let mut setup = Setup::new(clients::PUBLIC);
    setup.store = Some(store.clone());
    let session = setup.session().await;
    let err = session.restore().await.unwrap_err();
    assert_eq!(err.code(), "unreadable_session");
    assert!(err.to_string().contains("record version 99"), "{err}");
}

#[tokio::test]
async fn a_writer_killed_with_sigkill_never_leaves_a_corrupt_store() {
    let (dir, store) = temp_store("sigkill");
    for round in 0..20u64 {
        let mut child = std::process::Command::new(worker())
            .args(["write-loop", dir.to_str().unwrap()])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20 + (round * 7) % 40));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if let Some(text) = store.load("sipauth_session").unwrap() {
            let value: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("round {round}: corrupt store: {e}"));
            assert!(value["generation"].is_u64());
        }
    }
    assert!(
        store.load("sipauth_session").unwrap().is_some(),
        "the writer wrote something"
    );
}

#[tokio::test]
async fn a_refused_refresh_is_visible_and_logs_out() {
    let (_dir, store) = temp_store("refused");
    let mut setup = Setup::new(clients::PUBLIC);
    setup.store = Some(store.clone());
    let session = setup.session().await;
    let events = record_events(&session);
    sign_in(&session, "kim").await;
    // Someone else spends (rotates) the refresh token behind the session's back.
    let rt = session.snapshot().tokens.unwrap().refresh_token.unwrap();
    session.client().refresh(&rt).await.unwrap();
    store
        .save(
            "sipauth_session",
            &store.load("sipauth_session").unwrap().unwrap(),
        )
        .unwrap();

    let err = session.refresh_tokens().await.unwrap_err();
    assert_eq!(err.code(), "invalid_grant");
    let snap = session.snapshot();
    assert_eq!(snap.state, AuthState::Error);
    assert_eq!(snap.error.unwrap().code, "invalid_grant");
    assert!(snap.tokens.is_none());
    assert_eq!(
        store.load("sipauth_session").unwrap(),
        None,
        "the dead session is not kept"
    );
    let events = events.lock().unwrap();
    assert!(events
        .iter()
        .any(|e| matches!(e, SessionEvent::Logout(LogoutReason::RefreshFailed))));
    assert!(events
        .iter()
        .any(|e| matches!(e, SessionEvent::Error(er) if er.code == "invalid_grant")));
}

#[tokio::test]
async fn inactivity_ends_the_session_by_the_clock() {
    let clock = ManualClock::starting_now();
    let mut setup = Setup::new(clients::PUBLIC);
    setup.clock = Some(clock.clone());
    let session = setup.session().await;
    let events = record_events(&session);
    sign_in(&session, "lee").await;
    let monitor = sipauth::InactivityMonitor::new(session.clone(), Duration::from_secs(1800));
    clock.advance(Duration::from_secs(1000));
    assert!(!monitor.check().await);
    monitor.touch();
    clock.advance(Duration::from_secs(1000));
    assert!(!monitor.check().await, "activity reset the timer");
    clock.advance(Duration::from_secs(801));
    assert!(monitor.check().await);
    assert_eq!(session.state(), AuthState::Idle);
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, SessionEvent::Logout(LogoutReason::SessionTimeout))));
}

/// A session over a stub provider (plain OAuth2) whose token endpoint the test controls.
async fn stub_session(stub: &Stub, clock: &ManualClock, token: serde_json::Value) -> Session {
    stub_session_with(stub, clock, token, mapping(), false).await
}

/// The same, with a mapping and automatic refresh as given.
async fn stub_session_with(
    stub: &Stub,
    clock: &ManualClock,
    token: serde_json::Value,
    mapping: CredentialMapping,
    auto_refresh: bool,
) -> Session {
    let mut p = ProviderConfig::custom(
        ClientRegistration::public("c", REDIRECT),
        &stub.url("/authorize"),
        &stub.url("/token"),
    )
    .unwrap()
    .with_scopes(["profile"]);
    p.userinfo_endpoint = Some(stub.url("/userinfo").parse().unwrap());
    stub.set("/token", Canned::json(200, token));
    stub.set(
        "/userinfo",
        Canned::json(
            200,
            json!({"sub": "u1", "email": "u1@example.com", "email_verified": true}),
        ),
    );
    let options = SessionOptions {
        auto_refresh,
        retry: RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(10),
        },
        ..SessionOptions::default()
    };
    let session = Session::builder(p, mapping)
        .options(options)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let request = session.login(&AuthorizationOptions::default()).unwrap();
    session
        .handle_callback(&format!(
            "{REDIRECT}?code=c&state={}",
            request.state.secret()
        ))
        .await
        .unwrap();
    session
}

#[tokio::test]
async fn rejects_an_expired_token_that_cannot_be_refreshed() {
    let stub = Stub::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let session = stub_session(
        &stub,
        &clock,
        json!({"access_token": "at", "token_type": "Bearer", "expires_in": 600}),
    )
    .await;
    // Inside the threshold but not expired, and no refresh token: still usable.
    clock.advance(Duration::from_secs(400));
    assert_eq!(session.get_access_token().await.unwrap().secret(), "at");
    clock.advance(Duration::from_secs(300));
    let err = session.get_access_token().await.unwrap_err();
    assert_eq!(err.code(), "token_expired");
    assert_eq!(
        session.refresh_tokens().await.unwrap_err().code(),
        "no_refresh_token"
    );
}

#[tokio::test]
async fn a_provider_down_near_expiry_hands_out_the_still_valid_token_and_stays_signed_in() {
    let stub = Stub::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let session = stub_session(
        &stub,
        &clock,
        json!({"access_token": "at", "token_type": "Bearer", "expires_in": 600, "refresh_token": "rt"}),
    )
    .await;
    stub.set("/token", Canned::text(503, "text/plain", "maintenance"));
    // Inside the refresh threshold, before expiry.
    clock.advance(Duration::from_secs(450));
    let token = session.get_access_token().await.unwrap();
    assert_eq!(token.secret(), "at");
    assert_eq!(session.state(), AuthState::Authenticated, "still signed in");
    assert!(
        session.snapshot().error.is_some(),
        "the failed refresh is shown"
    );
    // Past expiry, the same outage is an error.
    clock.advance(Duration::from_secs(200));
    assert!(session.get_access_token().await.is_err());
}

#[tokio::test]
async fn transient_refresh_failures_are_retried_then_shown() {
    let stub = Stub::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let session = stub_session(
        &stub,
        &clock,
        json!({"access_token": "at", "token_type": "Bearer", "expires_in": 600, "refresh_token": "rt"}),
    )
    .await;
    let events = record_events(&session);
    stub.set("/token", Canned::text(503, "text/plain", "maintenance"));
    let err = session.refresh_tokens().await.unwrap_err();
    assert!(matches!(err, Error::Response(_)));
    assert_eq!(
        stub.hits("/token"),
        1 + 3,
        "the exchange, then three attempts"
    );
    assert_eq!(session.state(), AuthState::Error);
    assert!(
        session.snapshot().tokens.is_some(),
        "a transient failure keeps the grant"
    );
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, SessionEvent::Logout(LogoutReason::RefreshFailed))));
    // The provider is back: the same grant refreshes.
    stub.set(
        "/token",
        Canned::json(
            200,
            json!({"access_token": "at2", "token_type": "Bearer", "expires_in": 600}),
        ),
    );
    session.refresh_tokens().await.unwrap();
    assert_eq!(session.state(), AuthState::Authenticated);
    assert_eq!(
        stub.requests("/token").last().unwrap().form()["refresh_token"],
        "rt"
    );
}

#[tokio::test]
async fn reprovisioning_rotates_the_password_and_reports_it() {
    let stub = Stub::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let session = stub_session(
        &stub,
        &clock,
        json!({"access_token": "at", "token_type": "Bearer", "expires_in": 600}),
    )
    .await;
    let events = record_events(&session);
    let creds = session.reprovision_credentials().await.unwrap();
    assert_eq!(creds.password.secret(), "at");
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, SessionEvent::CredentialsProvisioned(_))));
}

#[tokio::test]
async fn a_callback_is_completed_by_another_session_on_the_same_store() {
    // The process that opened the browser is not the one that receives the redirect (a loopback
    // listener, a page reload): the pending state and verifier must be found in the store.
    let (_dir, store) = temp_store("handoff");
    let mut setup = Setup::new(clients::PUBLIC);
    setup.store = Some(store.clone());
    let starter = setup.session().await;
    let request = starter.login(&AuthorizationOptions::default()).unwrap();
    assert_eq!(store.keys("sipauth_pending_").unwrap().len(), 1);
    drop(starter);
    let callback = Browser::new()
        .unwrap()
        .sign_in(request.url.as_str(), "mona", REDIRECT)
        .await
        .unwrap();
    let finisher = setup.session().await;
    let credentials = finisher.handle_callback(&callback).await.unwrap();
    assert_eq!(credentials.username, "mona");
    assert!(
        store.keys("sipauth_pending_").unwrap().is_empty(),
        "the pending sign-in is spent"
    );
    let again = setup.session().await;
    assert_eq!(
        again.handle_callback(&callback).await.unwrap_err().code(),
        "invalid_state"
    );
}

#[tokio::test]
async fn rejects_a_stored_session_of_another_client_and_leaves_it_alone() {
    let (_dir, store) = temp_store("bound");
    let clock = ManualClock::starting_now();
    let mut setup = Setup::new(clients::PUBLIC);
    setup.store = Some(store.clone());
    setup.clock = Some(clock.clone());
    let first = setup.session().await;
    sign_in(&first, "kira").await;
    drop(first);
    let before = store.load("sipauth_session").unwrap().unwrap();
    let on_disk: serde_json::Value = serde_json::from_str(&before).unwrap();
    assert_eq!(on_disk["bound_to"]["client_id"], clients::PUBLIC);
    // Due for a refresh, read by a session configured for another client: refused before any
    // refresh token goes anywhere, and the record stays as it was.
    clock.advance(Duration::from_secs(3610));
    let mut other = Setup::new(clients::SHORT_LIVED);
    other.store = Some(store.clone());
    other.clock = Some(clock.clone());
    let err = other.session().await.restore().await.unwrap_err();
    assert_eq!(err.code(), "session_mismatch");
    assert_eq!(store.load("sipauth_session").unwrap().unwrap(), before);
    // Its own client restores it.
    assert!(setup.session().await.restore().await.unwrap().is_some());
}

/// What a provisioning API with credential leases answers.
/// The `api` strategy (POST) at `path` of `stub`, over sip.example.com.
fn api_at(stub: &Stub, path: &str) -> CredentialMapping {
    CredentialMapping::new(
        "sip.example.com",
        "ws://127.0.0.1:8088",
        PasswordStrategy::api(
            stub.url(path).parse().unwrap(),
            sipauth::sip::ApiMethod::Post,
        ),
    )
}

fn leased(password: &str, expires_at: i64) -> Canned {
    Canned::json(
        200,
        json!({
            "username": "u1", "password": password, "sipUri": "sip:u1@sip.example.com",
            "sipDomain": "sip.example.com", "wsServerUri": "ws://127.0.0.1:8088",
            "expiresAt": expires_at
        }),
    )
}

#[tokio::test]
async fn credentials_are_provisioned_again_before_they_expire() {
    use sipauth::Clock;
    let stub = Stub::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let t0 = clock.now_unix();
    stub.set("/provision", leased("p1", t0 + 120));
    let api = api_at(&stub, "/provision");
    // A long-lived access token without a refresh token: only the credentials are due.
    let token = json!({"access_token": "at", "token_type": "Bearer", "expires_in": 86_400});
    let session = stub_session_with(&stub, &clock, token, api, true).await;
    let mut events = session.events();
    assert_eq!(session.sip_credentials().unwrap().password.secret(), "p1");
    assert_eq!(session.next_refresh_at(), None);
    // Before expiry by half of what is left (less than the 300 s threshold).
    let due = session.next_reprovision_at().expect("scheduled");
    assert_eq!(due, t0 + 60);
    stub.set("/provision", leased("p2", t0 + 180));
    while let Ok(event) = tokio::time::timeout(Duration::from_millis(300), events.recv()).await {
        assert!(
            !matches!(event.unwrap(), SessionEvent::CredentialsProvisioned(_)),
            "provisioned before its time"
        );
    }
    clock.set(due);
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("re-provisioned once the clock reached its time")
            .unwrap();
        if let SessionEvent::CredentialsProvisioned(c) = event {
            assert_eq!(c.password.secret(), "p2");
            break;
        }
    }
    assert_eq!(
        session.sip_credentials().unwrap().expires_at,
        Some(t0 + 180)
    );
    let next = session.next_reprovision_at().unwrap();
    assert_eq!(next, t0 + 120, "the new lease's schedule");
    // A refusal (the account disabled) is retried later, not in a loop.
    stub.set(
        "/provision",
        Canned::json(403, json!({"error": "account_disabled"})),
    );
    let before = stub.hits("/provision");
    clock.set(next);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stub.hits("/provision"), before + 1, "one attempt");
    assert!(session.next_reprovision_at().unwrap() >= next + 30);
    assert_eq!(
        session.sip_credentials().unwrap().password.secret(),
        "p2",
        "kept"
    );
}

#[tokio::test]
async fn credentials_that_expire_with_an_unrefreshable_token_are_not_provisioned_in_a_loop() {
    use sipauth::Clock;
    let stub = Stub::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let t0 = clock.now_unix();
    // Token-derived credentials expire with the token; without a refresh token a new
    // provision cannot give later ones.
    let token = json!({"access_token": "at", "token_type": "Bearer", "expires_in": 120});
    let session = stub_session_with(&stub, &clock, token, mapping(), true).await;
    let events = record_events(&session);
    let due = session.next_reprovision_at().expect("scheduled");
    assert_eq!(due, t0 + 60);
    clock.set(due);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let provisioned = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, SessionEvent::CredentialsProvisioned(_)))
        .count();
    assert_eq!(provisioned, 1);
    assert!(
        session.next_reprovision_at().unwrap() >= t0 + 120,
        "not again before they expire"
    );
}

#[tokio::test]
async fn deprovisioning_deletes_the_account_at_the_provisioning_service_with_the_token() {
    let stub = Stub::start().await.unwrap();
    let clock = ManualClock::starting_now();
    use sipauth::Clock;
    stub.set("/provision", leased("p1", clock.now_unix() + 3600));
    let api = api_at(&stub, "/provision");
    let token = json!({"access_token": "at-del", "token_type": "Bearer", "expires_in": 3600});
    let session = stub_session_with(&stub, &clock, token, api, false).await;
    stub.set("/provision", Canned::text(204, "application/json", ""));
    assert!(session.deprovision().await.unwrap());
    let last = stub.requests("/provision").pop().unwrap();
    assert_eq!(last.method, "DELETE");
    assert_eq!(last.headers["authorization"], "Bearer at-del");
    // Already gone counts as done; a refusal is an error.
    stub.set(
        "/provision",
        Canned::json(404, json!({"error": "not_found"})),
    );
    assert!(session.deprovision().await.unwrap());
    stub.set(
        "/provision",
        Canned::json(503, json!({"error": "temporarily_unavailable"})),
    );
    assert!(session.deprovision().await.is_err());
}

#[tokio::test]
async fn a_back_channel_logout_reported_by_the_service_ends_the_session_once() {
    use sipauth::Clock;
    let stub = Stub::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let t0 = clock.now_unix();
    stub.set("/provision", leased("p1", t0 + 120));
    let api = api_at(&stub, "/provision");
    let token = json!({"access_token": "at", "token_type": "Bearer", "expires_in": 86_400});
    let session = stub_session_with(&stub, &clock, token, api, true).await;
    let mut events = session.events();
    // The provider logged the person out: the service says so at the lease's renewal.
    stub.set(
        "/provision",
        Canned::json(
            401,
            json!({"error": "signed_out", "error_description": "sign in again"}),
        ),
    );
    clock.set(session.next_reprovision_at().unwrap());
    let mut reasons = Vec::new();
    while let Ok(event) = tokio::time::timeout(Duration::from_secs(2), events.recv()).await {
        if let SessionEvent::Logout(reason) = event.unwrap() {
            reasons.push(reason);
        }
    }
    assert_eq!(reasons, [LogoutReason::BackChannelLogout], "exactly once");
    assert_eq!(session.state(), AuthState::Idle);
    assert!(session.snapshot().tokens.is_none() && session.sip_credentials().is_none());
    assert_eq!(session.next_reprovision_at(), None, "no timer left");
    // Nothing more is asked of anybody.
    let hits = stub.hits("/provision");
    clock.set(t0 + 10_000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stub.hits("/provision"), hits);
}

#[tokio::test]
async fn rejects_other_refusals_of_the_service_without_ending_the_session() {
    let stub = Stub::start().await.unwrap();
    let clock = ManualClock::starting_now();
    use sipauth::Clock;
    stub.set("/provision", leased("p1", clock.now_unix() + 3600));
    let api = api_at(&stub, "/provision");
    let token = json!({"access_token": "at", "token_type": "Bearer", "expires_in": 3600});
    let session = stub_session_with(&stub, &clock, token, api, false).await;
    let mut events = session.events();
    for (status, code) in [
        (403, "account_disabled"),
        (401, "invalid_token"),
        (500, "x"),
    ] {
        stub.set("/provision", Canned::json(status, json!({"error": code})));
        let err = session.reprovision_credentials().await.unwrap_err();
        // sipauth's refusals keep their code; anything else is the API failing.
        let expected = if code == "account_disabled" {
            code
        } else {
            "password_api_failed"
        };
        assert_eq!(err.code(), expected, "{err}");
    }
    assert_eq!(session.state(), AuthState::Authenticated);
    assert!(session.snapshot().tokens.is_some());
    while let Ok(event) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
        assert!(
            !matches!(event.unwrap(), SessionEvent::Logout(_)),
            "no logout for a refusal that is not a sign-out"
        );
    }
}

#[tokio::test]
async fn a_session_lists_and_revokes_its_persons_devices_at_the_provisioning_service() {
    use sipauth::Clock;
    let stub = Stub::start().await.unwrap();
    let clock = ManualClock::starting_now();
    stub.set("/api/provision", leased("p1", clock.now_unix() + 3600));
    let mut api = api_at(&stub, "/api/provision");
    api.password = api.password.with_device_name("Laptop");
    let token = json!({"access_token": "at-dev", "token_type": "Bearer", "expires_in": 3600});
    let session = stub_session_with(&stub, &clock, token, api, false).await;
    // The provision named the device.
    let first = stub.requests("/api/provision").pop().unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&first.body).unwrap()["device"]["name"],
        "Laptop"
    );
    // Beside the provisioning endpoint: its devices, with the access token.
    stub.set(
        "/api/devices",
        Canned::json(
            200,
            json!({"devices": [{"id": "d1", "name": "Laptop", "authorizationUsername": "u1~ab12",
                "createdAt": 1, "lastProvisionedAt": 2, "userAgent": null}]}),
        ),
    );
    let list = session.devices().await.unwrap().unwrap();
    assert_eq!(list.devices[0].authorization_username, "u1~ab12");
    let asked = stub.requests("/api/devices").pop().unwrap();
    assert_eq!(asked.headers["authorization"], "Bearer at-dev");
    stub.set("/api/devices/d1", Canned::text(204, "application/json", ""));
    assert_eq!(session.revoke_device("d1").await.unwrap(), Some(true));
    assert_eq!(
        stub.requests("/api/devices/d1").pop().unwrap().method,
        "DELETE"
    );
    stub.set(
        "/api/devices/d1",
        Canned::json(404, json!({"error": "not_found"})),
    );
    assert_eq!(session.revoke_device("d1").await.unwrap(), Some(false));
}

#[tokio::test]
async fn rejects_device_answers_that_are_not_lists_and_says_none_without_a_service() {
    use sipauth::Clock;
    let stub = Stub::start().await.unwrap();
    let clock = ManualClock::starting_now();
    stub.set("/api/provision", leased("p1", clock.now_unix() + 3600));
    let api = api_at(&stub, "/api/provision");
    let token = json!({"access_token": "at", "token_type": "Bearer", "expires_in": 3600});
    let session = stub_session_with(&stub, &clock, token, api, false).await;
    stub.set("/api/devices", Canned::json(200, json!(["not", "devices"])));
    assert!(session.devices().await.is_err());
    // Without a provisioning service there is nothing to list.
    let plain = stub_session(
        &stub,
        &clock,
        json!({"access_token": "x", "token_type": "Bearer", "expires_in": 3600}),
    )
    .await;
    assert!(plain.devices().await.unwrap().is_none());
    assert!(plain.revoke_device("d1").await.unwrap().is_none());
}
