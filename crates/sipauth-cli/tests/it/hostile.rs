//! The `sipauth` binary under short-lived tokens, dead refresh tokens, slow and hostile servers,
//! odd flags and bad stored state. The provider is a loopback stub whose answers and request
//! counts the test controls (what cannot be made to misbehave on purpose in oidc-provider); the
//! session is seeded in the data directory as a previous login would have left it.

use std::time::Duration;

use serde_json::{json, Value};
use sipauth_testkit::browser::query_param;
use sipauth_testkit::stub::{Canned, Stub};

use crate::common::{interrupt, pending_files, start_login, Env};

fn now() -> i64 {
    use sipauth::Clock;
    sipauth::SystemClock.now_unix()
}

/// A stub OpenID provider (discovery only; each test sets the endpoints it needs).
async fn provider(extra: Value) -> Stub {
    let stub = Stub::start().await.unwrap();
    stub.serve_discovery(extra);
    stub
}

/// Leaves in `env` what a login against `stub` would have: the settings and a session whose
/// access token was issued `age` seconds ago and lives `lifetime` seconds.
fn seed(env: &Env, stub: &Stub, lifetime: i64, age: i64) {
    let data = env.dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let profile =
        json!({ "issuer": stub.base, "client_id": "cli", "sip_domain": "sip.example.com" });
    std::fs::write(data.join("sipauth_profile.json"), profile.to_string()).unwrap();
    let issued = now() - age;
    let session = json!({
        "version": 1,
        "tokens": {
            "access_token": "at-old", "token_type": "Bearer", "expires_in": lifetime,
            "expires_at": issued + lifetime, "refresh_token": "rt-old",
            "id_token": "eyJ.old.idtoken", "id_token_expires_at": issued + 3600
        },
        "user_info": { "sub": "alice", "email": "alice@example.com", "email_verified": true, "name": "Alice" },
        "sip_credentials": null,
        "saved_at": issued
    });
    std::fs::write(data.join("sipauth_session.json"), session.to_string()).unwrap();
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn twenty_processes_on_four_second_tokens_make_one_refresh() {
    let stub = provider(json!({})).await;
    stub.set(
        "/token",
        Canned::json(200, json!({
            "access_token": "at-new", "token_type": "Bearer", "expires_in": 4, "refresh_token": "rt-new"
        })),
    );
    let env = Env::new("twenty");
    seed(&env, &stub, 4, 5); // expired a second ago
    let runs: Vec<_> = (0..20).map(|_| env.run(&["token"])).collect();
    let outs = futures::future::join_all(runs).await;
    for out in &outs {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout).trim(), "at-new");
    }
    assert_eq!(stub.hits("/token"), 1, "one refresh for twenty processes");
    // And one more process, a second later: the fresh token is not due yet.
    let out = env.run(&["token"]).await;
    assert_eq!(text(&out.stdout).trim(), "at-new");
    assert_eq!(
        stub.hits("/token"),
        1,
        "a 4 s token is not due the moment it is issued"
    );
    // The refresh returned no ID token: the last one is kept, with its expiry.
    let stored = env.stored();
    assert_eq!(stored["tokens"]["id_token"], "eyJ.old.idtoken");
    assert!(stored["tokens"]["id_token_expires_at"].is_i64());
}

#[tokio::test]
async fn rejects_a_dead_refresh_token_ending_the_session_with_exit_4() {
    for (name, answer) in [
        ("empty400", Canned::text(400, "text/plain", "")),
        (
            "grant",
            Canned::json(
                400,
                json!({"error": "invalid_grant", "error_description": "grant request is invalid"}),
            ),
        ),
    ] {
        let stub = provider(json!({})).await;
        stub.set("/token", answer);
        let env = Env::new(name);
        seed(&env, &stub, 3600, 3590);
        let out = env.run(&["token"]).await;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{name}: {err}");
        assert!(err.contains("sign in again"), "{name}: {err}");
        assert!(out.stdout.is_empty());
        assert!(
            !env.dir.join("data/sipauth_session.json").exists(),
            "{name}: cleared"
        );
        let status = env.run(&["status"]).await;
        assert_eq!(
            status.status.code(),
            Some(4),
            "{name}: not signed in afterwards"
        );
    }
}

#[tokio::test]
async fn a_failed_refresh_while_the_token_still_works_returns_it() {
    let stub = provider(json!({})).await;
    stub.set(
        "/token",
        Canned::text(503, "text/plain", "down for maintenance"),
    );
    let env = Env::new("stillvalid");
    seed(&env, &stub, 3600, 3500); // 100 s left: due, not expired
    let out = env
        .cmd(&["token"])
        .env_remove("NO_COLOR")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "at-old");
    let err = text(&out.stderr);
    assert!(err.contains("WARN"), "the failure is visible: {err}");
    assert!(
        !err.contains('\u{1b}'),
        "no colour codes when standard error is not a terminal"
    );
}

#[tokio::test]
async fn status_reports_without_refreshing() {
    let stub = provider(json!({})).await;
    let env = Env::new("status");
    seed(&env, &stub, 60, 120);
    let out = env.run(&["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("next `sipauth token` refreshes it"));
    assert_eq!(stub.hits("/token"), 0, "status makes no token request");
}

#[tokio::test]
async fn rejects_unreadable_session_files_saying_so() {
    let stub = provider(json!({})).await;
    for (name, record, says) in [
        ("corrupt", "{ not json".to_string(), "not JSON"),
        (
            "future",
            json!({"version": 7, "tokens": {}}).to_string(),
            "record version 7",
        ),
    ] {
        let env = Env::new(name);
        seed(&env, &stub, 3600, 0);
        std::fs::write(env.dir.join("data/sipauth_session.json"), record).unwrap();
        let out = env.run(&["token"]).await;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{err}");
        assert!(err.contains(says) && err.contains("moved aside"), "{err}");
        let kept = std::fs::read_dir(env.dir.join("data"))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .any(|n| n.contains("unreadable"));
        assert!(kept, "{name}: the file is kept aside");
    }
}

#[tokio::test]
async fn token_json_failure_is_one_document() {
    let env = Env::new("jsonfail");
    let out = env.run(&["token", "--json"]).await;
    assert_eq!(out.status.code(), Some(4));
    let doc: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(doc["error"], "not_authenticated");
    assert_eq!(doc["exitCode"], 4);
}

#[tokio::test]
async fn logout_says_exactly_what_happened_to_the_tokens() {
    // No revocation endpoint anywhere: signed out here, tokens not revoked, exit 0.
    let stub = provider(json!({})).await;
    let env = Env::new("norevoke");
    seed(&env, &stub, 3600, 0);
    let out = env.run(&["logout", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(doc["signedOut"], true);
    assert_eq!(doc["revoked"], false);
    assert_eq!(doc["accessToken"]["outcome"], "not_supported");
    assert!(text(&out.stderr).contains("does not support revocation"));
    assert!(!env.dir.join("data/sipauth_session.json").exists());
    assert!(
        !env.dir.join("data/sipauth_session.lock").exists(),
        "no lock file left"
    );

    // A refusal: still signed out here, its own exit code, and one JSON document.
    let stub = provider(json!({})).await;
    stub.set(
        "/.well-known/oauth-authorization-server",
        Canned::json(
            200,
            json!({
                "issuer": stub.base, "authorization_endpoint": stub.url("/auth"),
                "token_endpoint": stub.url("/token"), "revocation_endpoint": stub.url("/revoke")
            }),
        ),
    );
    stub.set(
        "/revoke",
        Canned::json(401, json!({"error": "invalid_client"})),
    );
    let env = Env::new("refused");
    seed(&env, &stub, 3600, 0);
    let out = env.run(&["logout", "--json"]).await;
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(doc["signedOut"], true);
    assert_eq!(doc["revoked"], false);
    assert_eq!(doc["error"], "revocation_failed");
    assert_eq!(doc["accessToken"]["code"], "invalid_client");
    assert_eq!(stub.hits("/revoke"), 2, "found through RFC 8414 metadata");
    assert!(!env.dir.join("data/sipauth_session.json").exists());
}

#[tokio::test]
async fn ctrl_c_ends_a_slow_token_exchange_at_once() {
    let stub = provider(json!({})).await;
    stub.set(
        "/token",
        Canned::json(200, json!({"access_token": "x", "token_type": "Bearer"}))
            .delayed(Duration::from_secs(25)),
    );
    let env = Env::new("ctrlc");
    let (child, url, rest) =
        start_login(&env, &["--issuer", &stub.base, "--client-id", "cli"]).await;
    let redirect = query_param(&url, "redirect_uri").unwrap();
    let state = query_param(&url, "state").unwrap();
    let callback = format!("{redirect}?code=c1&state={state}&iss={}", stub.base);
    tokio::spawn(async move {
        let _ = reqwest::get(callback).await;
    });
    // Wait until the exchange is under way, then Ctrl-C.
    while stub.hits("/token") == 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = sipauth::monotonic_now();
    interrupt(&child);
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(rest.await.unwrap().contains("cancelled"));
}

#[tokio::test]
async fn ctrl_c_while_waiting_leaves_no_pending_sign_in() {
    let stub = provider(json!({})).await;
    let env = Env::new("leftover");
    let (child, _url, rest) =
        start_login(&env, &["--issuer", &stub.base, "--client-id", "cli"]).await;
    assert_eq!(
        pending_files(&env).len(),
        1,
        "the pending sign-in is on disk while waiting"
    );
    interrupt(&child);
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(rest.await.unwrap().contains("cancelled"));
    assert!(pending_files(&env).is_empty(), "{:?}", pending_files(&env));
}

#[tokio::test]
async fn login_timeout_covers_discovery() {
    let stub = Stub::start().await.unwrap();
    stub.set(
        "/.well-known/openid-configuration",
        Canned::json(200, json!({})).delayed(Duration::from_secs(25)),
    );
    let env = Env::new("slowdisco");
    let started = sipauth::monotonic_now();
    let out = env
        .run(&[
            "login",
            "--no-browser",
            "--timeout",
            "2",
            "--issuer",
            &stub.base,
            "--client-id",
            "cli",
        ])
        .await;
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("timed out after 2 s"));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn rejects_terminal_escapes_from_a_callback() {
    let stub = provider(json!({})).await;
    let env = Env::new("escapes");
    let (child, url, rest) =
        start_login(&env, &["--issuer", &stub.base, "--client-id", "cli"]).await;
    let redirect = query_param(&url, "redirect_uri").unwrap();
    let state = query_param(&url, "state").unwrap();
    let hostile = "%1B%5B2J%1B%5D0%3Bpwned%07%0Dfake";
    let _ = reqwest::get(format!(
        "{redirect}?error=access_denied&error_description={hostile}&state={state}&iss={}",
        stub.base
    ))
    .await
    .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = rest.await.unwrap();
    assert!(err.contains("access_denied"), "{err}");
    assert!(
        !err.contains('\u{1b}') && !err.contains('\u{7}') && !err.contains('\r'),
        "{err:?}"
    );
    assert!(pending_files(&env).is_empty());
}

#[tokio::test]
async fn rejects_redirect_paths_that_are_not_literal() {
    let env = Env::new("paths");
    for bad in ["/{id}", "/a?x=1", "cb"] {
        let out = env
            .run(&[
                "login",
                "--no-browser",
                "--issuer",
                "http://127.0.0.1:9",
                "--client-id",
                "c",
                "--redirect-path",
                bad,
            ])
            .await;
        assert_eq!(out.status.code(), Some(5), "{bad}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("--redirect-path"));
    }
    // A colon is an ordinary path character, not a route pattern: no panic, it listens there.
    let stub = provider(json!({})).await;
    let (child, url, _rest) = start_login(
        &env,
        &[
            "--issuer",
            &stub.base,
            "--client-id",
            "c",
            "--redirect-path",
            "/cb/:id",
        ],
    )
    .await;
    assert!(query_param(&url, "redirect_uri")
        .unwrap()
        .ends_with("/cb/:id"));
    interrupt(&child);
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(130));
}

#[tokio::test]
async fn rejects_bad_settings_before_any_network_step() {
    let env = Env::new("early");
    // An issuer with credentials: refused, and the password is never echoed.
    let out = env
        .run(&[
            "login",
            "--no-browser",
            "--issuer",
            "https://user:hunter2@idp.example.com/",
            "--client-id",
            "c",
        ])
        .await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("hunter2"));
    // A plain ws:// on a public host fails at once, before discovery of an unreachable issuer.
    let out = env
        .run(&[
            "login",
            "--no-browser",
            "--issuer",
            "http://127.0.0.1:9",
            "--client-id",
            "c",
            "--ws-uri",
            "ws://sip.example.com/ws",
        ])
        .await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--ws-uri"));
    // And `credentials` with it never prints a previous run's configuration.
    let stub = provider(json!({})).await;
    seed(&env, &stub, 3600, 0);
    let out = env
        .run(&["credentials", "--ws-uri", "ws://sip.example.com/ws"])
        .await;
    assert_eq!(out.status.code(), Some(5));
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn scopes_follow_the_provider_and_the_flag_exactly() {
    let stub = provider(json!({"scopes_supported": ["openid", "email", "profile"]})).await;
    let env = Env::new("scopes");
    let (child, url, _) = start_login(&env, &["--issuer", &stub.base, "--client-id", "c"]).await;
    assert_eq!(query_param(&url, "scope").unwrap(), "openid email profile");
    interrupt(&child);
    let _ = child.wait_with_output().await;
    let (child, url, _) = start_login(
        &env,
        &[
            "--issuer",
            &stub.base,
            "--client-id",
            "c",
            "--scope",
            "openid phone",
        ],
    )
    .await;
    assert_eq!(query_param(&url, "scope").unwrap(), "openid phone");
    // The provider's invalid_scope names what was asked for.
    let redirect = query_param(&url, "redirect_uri").unwrap();
    let state = query_param(&url, "state").unwrap();
    let _ = reqwest::get(format!(
        "{redirect}?error=invalid_scope&state={state}&iss={}",
        stub.base
    ))
    .await;
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(3));
}

#[tokio::test]
async fn a_custom_provider_without_discovery_signs_in_and_keeps_no_secret() {
    let stub = Stub::start().await.unwrap();
    stub.set(
        "/token",
        Canned::json(
            200,
            json!({"access_token": "at-c", "token_type": "Bearer", "expires_in": 3600}),
        ),
    );
    stub.set(
        "/me",
        Canned::json(
            200,
            json!({"sub": "42", "email": "zoe@example.com", "email_verified": true, "name": "Zoe"}),
        ),
    );
    let env = Env::new("custom");
    let (child, url, rest) = start_login(
        &env,
        &[
            "--json",
            "--client-id",
            "c",
            "--client-secret",
            "s3cret-value",
            "--authorization-endpoint",
            &stub.url("/auth"),
            "--token-endpoint",
            &stub.url("/token"),
            "--userinfo-endpoint",
            &stub.url("/me"),
            "--sip-domain",
            "sip.example.com",
        ],
    )
    .await;
    assert!(url.starts_with(&stub.url("/auth")), "{url}");
    let redirect = query_param(&url, "redirect_uri").unwrap();
    let state = query_param(&url, "state").unwrap();
    let page = reqwest::get(format!("{redirect}?code=c1&state={state}"))
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let out = child.wait_with_output().await.unwrap();
    let err = rest.await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{err}");
    let creds: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(creds["sipUri"], "sip:zoe@sip.example.com");
    let saved = std::fs::read_to_string(env.dir.join("data/sipauth_profile.json")).unwrap();
    assert!(
        !saved.contains("s3cret-value"),
        "the client secret is not saved: {saved}"
    );
    assert!(err.contains("--client-secret not saved"), "{err}");
}

#[tokio::test]
async fn rejects_a_discovery_document_naming_another_issuer_as_a_failed_sign_in() {
    let stub = provider(json!({ "issuer": "https://impostor.example.com" })).await;
    let env = Env::new("issuer-mismatch");
    let out = env
        .run(&[
            "login",
            "--no-browser",
            "--issuer",
            &stub.base,
            "--client-id",
            "cli",
            "--sip-domain",
            "sip.example.com",
        ])
        .await;
    let err = text(&out.stderr);
    // Found by a request, so not the README's 5 (wrong before any request): 3.
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("https://impostor.example.com"), "{err}");
}

#[tokio::test]
async fn rejects_a_device_sign_in_at_a_provider_without_the_device_grant() {
    let stub = provider(json!({})).await;
    let env = Env::new("no-device-grant");
    let out = env
        .run(&[
            "login",
            "--device",
            "--issuer",
            &stub.base,
            "--client-id",
            "cli",
            "--sip-domain",
            "sip.example.com",
        ])
        .await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains("does not offer the device authorization grant (RFC 8628)"),
        "{err}"
    );
    assert!(!err.contains("is required but not configured"), "{err}");
}

/// Signs in at a provider without discovery whose userinfo answers `user_info`: (exit code,
/// stdout, stderr).
async fn sign_in_with_userinfo(name: &str, user_info: Value) -> (Option<i32>, String, String) {
    let stub = Stub::start().await.unwrap();
    stub.set(
        "/token",
        Canned::json(
            200,
            json!({"access_token": "at-u", "token_type": "Bearer", "expires_in": 3600}),
        ),
    );
    stub.set("/me", Canned::json(200, user_info));
    let env = Env::new(name);
    let (child, url, rest) = start_login(
        &env,
        &[
            "--json",
            "--client-id",
            "c",
            "--authorization-endpoint",
            &stub.url("/auth"),
            "--token-endpoint",
            &stub.url("/token"),
            "--userinfo-endpoint",
            &stub.url("/me"),
            "--sip-domain",
            "sip.example.com",
        ],
    )
    .await;
    let redirect = query_param(&url, "redirect_uri").unwrap();
    let state = query_param(&url, "state").unwrap();
    reqwest::get(format!("{redirect}?code=c1&state={state}"))
        .await
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    let err = rest.await.unwrap();
    (out.status.code(), text(&out.stdout), err)
}

#[tokio::test]
async fn a_provider_that_omits_email_verified_names_the_account_by_the_next_claim() {
    // Two OpenID providers tried as a new user would send no email_verified at all.
    let (code, out, err) = sign_in_with_userinfo(
        "no-email-verified",
        json!({"sub": "u-1", "email": "zed@example.com", "preferred_username": "zeddy"}),
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    let creds: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(creds["username"], "zeddy", "never the unverified email");
    assert!(
        err.contains("SIP account zeddy (named by the preferred_username claim)"),
        "{err}"
    );
    // Nothing but the subject: the subject names it.
    let (code, out, err) =
        sign_in_with_userinfo("only-sub", json!({"sub": "u2", "email": "zed@example.com"})).await;
    assert_eq!(code, Some(0), "{err}");
    let creds: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(creds["username"], "u2");
    assert!(err.contains("(named by the sub claim)"), "{err}");
}

#[tokio::test]
async fn rejects_a_command_naming_another_provider_than_the_one_signed_in_at() {
    let a = provider(json!({})).await;
    let b = provider(json!({})).await;
    let env = Env::new("other-issuer");
    // Signed in at A, token due for refresh.
    seed(&env, &a, 3600, 3590);
    for command in ["token", "credentials", "status"] {
        let out = env.run(&[command, "--issuer", &b.base]).await;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{command}: {err}");
        assert!(
            err.contains("not the one this profile signed in with"),
            "{err}"
        );
    }
    assert_eq!(b.hits("/token"), 0, "A's refresh token never goes to B");
    assert_eq!(b.hits("/.well-known/openid-configuration"), 0);
    // Naming the same issuer is fine.
    let out = env.run(&["status", "--issuer", &a.base]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
