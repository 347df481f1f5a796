//! The example app, end to end in a real browser: `testenv/run-leptos-example.sh` serves it,
//! `testenv/web/leptos-app.mjs` drives Debian Chromium (playwright-core) through a cancelled
//! sign-in (the friendly error, Dismiss, Try again), a sign-in at the real oidc-provider with the client whose access tokens live 5 s, a reload, a background
//! refresh and a sign-out; and, offering two real providers on one page (a second oidc-provider
//! started here), through signing in with each. Screenshots land in `target/test-artifacts/`.
//! Needs the app built for wasm32 beforehand (`testenv/run-tests.sh` does it; this test serves
//! what is there).

#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sipauth_testkit::process::{signal, Signal};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The served app: stopped when dropped.
struct App {
    child: tokio::process::Child,
    url: String,
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            signal(pid, Signal::Term);
        }
    }
}

async fn serve_app(issuer: &str, client_id: &str) -> App {
    serve_app_with(&["--issuer", issuer, "--client-id", client_id]).await
}

async fn serve_app_with(args: &[&str]) -> App {
    let script = sipauth_testkit::testenv_dir().join("run-leptos-example.sh");
    let mut child = tokio::process::Command::new(script)
        .args(args)
        .args(["--port", "0", "--sip-domain", "sip.example.org"])
        .env("SIPAUTH_LEPTOS_NO_BUILD", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the app was not served within 60 s")
        .unwrap()
        .expect("run-leptos-example.sh ended without serving (built? see its standard error)");
    let url = line
        .strip_prefix("serving ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    App { child, url }
}

async fn drive(url: &str, login: &str) -> Value {
    drive_with("leptos-app.mjs", &[url, login]).await
}

/// Runs `testenv/web/SCRIPT ARGS... ARTIFACTS_DIR` and returns the JSON line it printed last.
async fn drive_with(script: &str, args: &[&str]) -> Value {
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("node")
            .arg(sipauth_testkit::testenv_dir().join("web").join(script))
            .args(args)
            .arg(artifacts.display().to_string())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser run took over 120 s")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap_or_else(|_| {
        panic!(
            "no result from the browser run:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test]
async fn the_example_app_signs_in_survives_a_reload_refreshes_and_signs_out() {
    let issuer = sipauth_testkit::oidc_issuer();
    let app = serve_app(&issuer, sipauth_testkit::clients::SHORT_LIVED).await;
    let seen = drive(&app.url, "leo").await;
    assert_eq!(seen["ok"], true, "{seen:#}");
    // Cancelled at the provider: the guide's error, in friendly words, gone on Dismiss; the
    // address bar no longer holds the provider's error.
    assert_eq!(seen["cancelCode"], "access_denied", "{seen:#}");
    assert_eq!(seen["cancelTitle"], "You cancelled the sign-in");
    assert_eq!(seen["urlAfterCancel"], app.url, "{seen:#}");
    assert_eq!(seen["signInAfterDismiss"], true);
    assert_eq!(seen["tryAgainAtProvider"], true);
    // Signed in: the provider's profile, mapped to the SIP settings.
    assert_eq!(seen["displayName"], "Leo Example", "{seen:#}");
    assert_eq!(seen["sipUri"], "sip:leo@sip.example.org", "{seen:#}");
    assert_eq!(seen["wsServer"], "wss://sip.example.org/ws", "{seen:#}");
    // Back on the app's start page, the code and state gone from the address bar.
    assert_eq!(seen["url"], app.url, "{seen:#}");
    // The session is in localStorage, the finished sign-in is no longer pending.
    assert_eq!(
        seen["afterSignIn"]["local"],
        serde_json::json!(["sipauth_session"])
    );
    assert_eq!(seen["afterSignIn"]["session"], serde_json::json!([]));
    // A reload restores it.
    assert_eq!(seen["sipUriAfterReload"], seen["sipUri"]);
    // The 5 s token was refreshed in the background and the session stays signed in.
    assert!(
        seen["refreshedExpiry"].as_i64() > seen["firstExpiry"].as_i64(),
        "{seen:#}"
    );
    assert_eq!(seen["stateAfterRefresh"], "Authenticated", "{seen:#}");
    // Signing out leaves nothing behind.
    assert_eq!(seen["afterSignOut"]["local"], serde_json::json!([]));
    assert_eq!(seen["afterSignOut"]["session"], serde_json::json!([]));
    // Signed in again in a popup window: the page stayed where it was.
    assert_eq!(seen["popupSipUri"], seen["sipUri"], "{seen:#}");
    assert_eq!(seen["popupPageStayed"], true, "{seen:#}");
    assert_eq!(seen["popupClosedItself"], true, "{seen:#}");
    assert_eq!(seen["pageErrors"], serde_json::json!([]), "{seen:#}");
}

/// A second, independent oidc-provider (testenv's, on a free port): stopped when dropped.
struct SecondProvider {
    _child: tokio::process::Child,
    issuer: String,
}

async fn second_provider() -> SecondProvider {
    let mut child = tokio::process::Command::new("node")
        .arg(sipauth_testkit::testenv_dir().join("oidc-provider/server.mjs"))
        .env("PORT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the second oidc-provider did not start within 30 s")
        .unwrap()
        .expect("the second oidc-provider ended without its issuer");
    let started: Value = serde_json::from_str(&line).unwrap();
    SecondProvider {
        issuer: started["issuer"].as_str().unwrap().to_string(),
        _child: child,
    }
}

#[tokio::test]
async fn several_providers_on_one_page_each_sign_in_with_their_own_session() {
    let first = sipauth_testkit::oidc_issuer();
    let second = second_provider().await;
    assert_ne!(first, second.issuer);
    let client = sipauth_testkit::clients::PUBLIC;
    let app = serve_app_with(&[
        "--provider",
        "First",
        &first,
        client,
        "--provider",
        "Second",
        &second.issuer,
        client,
    ])
    .await;
    let seen = drive_with("leptos-providers.mjs", &[&app.url, "sue", "fay"]).await;
    assert_eq!(seen["ok"], true, "{seen:#}");
    assert_eq!(
        seen["buttons"],
        serde_json::json!(["Sign in with First", "Sign in with Second"])
    );
    // The second provider's button went to the second provider, whose account it shows.
    assert_eq!(seen["secondAt"], second.issuer, "{seen:#}");
    assert_eq!(seen["secondProvider"], "Second");
    assert_eq!(seen["secondSipUri"], "sip:sue@sip.example.org");
    assert_eq!(seen["secondUrl"], app.url, "back on the start page");
    // Its session is kept under its own keys; nothing is left pending.
    assert_eq!(
        seen["secondStorage"]["local"],
        serde_json::json!(["sipauth_example_provider", "sipauth_p1_session"])
    );
    assert_eq!(seen["secondStorage"]["session"], serde_json::json!([]));
    // A reload shows the same provider's session.
    assert_eq!(seen["afterReloadProvider"], "Second");
    assert_eq!(
        seen["afterSignOut"]["local"],
        serde_json::json!(["sipauth_example_provider"])
    );
    // The first provider's button, at the first provider.
    assert_eq!(seen["firstAt"], first, "{seen:#}");
    assert_eq!(seen["firstProvider"], "First");
    assert_eq!(seen["firstSipUri"], "sip:fay@sip.example.org");
    assert_eq!(
        seen["firstStorage"]["local"],
        serde_json::json!(["sipauth_example_provider", "sipauth_p0_session"])
    );
    assert_eq!(seen["pageErrors"], serde_json::json!([]), "{seen:#}");
}
