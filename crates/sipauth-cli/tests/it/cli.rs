//! The `sipauth` binary against the real oidc-provider: the loopback sign-in contract, the device
//! flow, status/token/credentials/logout, a refresh after the access token's lifetime, and bad
//! input with its documented exit codes. Each test has its own data directory.

use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use sipauth_testkit::browser::{query_param, with_query_param, Browser};
use sipauth_testkit::{clients, introspect_active, jssip_accepts, oidc_issuer};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{start_login, Env};

struct Login {
    output: Output,
    stderr: String,
    page_status: u16,
    page: String,
}

/// Runs `sipauth login --no-browser ARGS`, plays the browser with the printed URL, lets `tamper`
/// change the redirect, and delivers it to the CLI's loopback listener.
async fn login_with(
    env: &Env,
    extra: &[&str],
    user: &str,
    tamper: impl FnOnce(String) -> String,
) -> Login {
    let (child, url, rest) = start_login(env, extra).await;
    let redirect = query_param(&url, "redirect_uri").unwrap();
    let callback = Browser::new()
        .unwrap()
        .sign_in(&url, user, &redirect)
        .await
        .unwrap();
    let response = reqwest::get(tamper(callback)).await.unwrap();
    let page_status = response.status().as_u16();
    let page = response.text().await.unwrap();
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = rest.await.unwrap();
    Login {
        output,
        stderr,
        page_status,
        page,
    }
}

/// [`login_with`] against the test provider's issuer.
async fn login(
    env: &Env,
    extra: &[&str],
    user: &str,
    tamper: impl FnOnce(String) -> String,
) -> Login {
    let issuer = oidc_issuer();
    let mut args = vec!["--issuer", issuer.as_str()];
    args.extend_from_slice(extra);
    login_with(env, &args, user, tamper).await
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn login_prints_the_documented_json_contract() {
    let env = Env::new("contract");
    let l = login(
        &env,
        &["--client-id", clients::PUBLIC, "--json"],
        "alice",
        |c| c,
    )
    .await;
    assert_eq!(l.output.status.code(), Some(0), "{}", l.stderr);
    assert!(
        l.stderr.contains("Waiting for sign-in in your browser"),
        "{}",
        l.stderr
    );
    assert_eq!(l.page_status, 200);
    assert!(l.page.contains("Signed in"));
    let json: Value =
        serde_json::from_str(&stdout(&l.output)).expect("one JSON document on stdout");
    let host = url::Url::parse(&oidc_issuer())
        .unwrap()
        .host_str()
        .unwrap()
        .to_string();
    assert_eq!(json["sipUri"], format!("sip:alice@{host}"));
    assert_eq!(json["username"], "alice");
    assert_eq!(json["displayName"], "Alice Example");
    assert_eq!(json["realm"], host);
    assert_eq!(json["wsServerUri"], "ws://127.0.0.1:8088/ws");
    assert_eq!(json["authorizationUsername"], "alice");
    assert!(!json["password"].as_str().unwrap().is_empty());
    assert_eq!(json["user"]["sub"], "alice");
    assert_eq!(json["user"]["email"], "alice@example.com");
}

#[tokio::test]
async fn status_token_credentials_and_logout_after_a_login() {
    let env = Env::new("after");
    let l = login(
        &env,
        &[
            "--client-id",
            clients::PUBLIC,
            "--sip-domain",
            "sip.example.com",
        ],
        "bob",
        |c| c,
    )
    .await;
    assert_eq!(l.output.status.code(), Some(0), "{}", l.stderr);
    assert!(
        !stdout(&l.output).contains(
            env.stored()["sip_credentials"]["password"]
                .as_str()
                .unwrap()
        ),
        "text output hides the password"
    );

    let status = env.run(&["status", "--json"]).await;
    assert_eq!(status.status.code(), Some(0));
    let status: Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(status["signedIn"], true);
    assert_eq!(status["sipUri"], "sip:bob@sip.example.com");

    let token = env.run(&["token"]).await;
    assert_eq!(token.status.code(), Some(0));
    let access_token = stdout(&token).trim().to_string();
    assert_eq!(access_token, env.stored()["tokens"]["access_token"]);

    let creds = env.run(&["credentials", "--format", "env"]).await;
    assert!(
        stdout(&creds).contains("export SIP_URI='sip:bob@sip.example.com'"),
        "{}",
        stdout(&creds)
    );
    let table = env.run(&["credentials"]).await;
    assert!(stdout(&table).contains("[hidden: --show-password]"));
    let jssip = env.run(&["credentials", "--format", "jssip"]).await;
    jssip_accepts(&serde_json::from_str(&stdout(&jssip)).unwrap()).unwrap();

    let refresh_token = env.stored()["tokens"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let issuer = oidc_issuer();
    assert!(introspect_active(&issuer, &access_token).await.unwrap());
    let out = env.run(&["logout"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!introspect_active(&issuer, &access_token).await.unwrap());
    assert!(!introspect_active(&issuer, &refresh_token).await.unwrap());
    let after = env.run(&["token"]).await;
    assert_eq!(after.status.code(), Some(4), "not signed in");
    assert!(stdout(&after).is_empty());
}

#[tokio::test]
async fn token_refreshes_after_the_access_token_lifetime() {
    let env = Env::new("refresh");
    let l = login(&env, &["--client-id", clients::SHORT_LIVED], "carl", |c| c).await;
    assert_eq!(l.output.status.code(), Some(0), "{}", l.stderr);
    let first = stdout(&env.run(&["token"]).await).trim().to_string();
    // The short-lived client's access tokens live 5 s; wait them out for real.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let out = env.run(&["token", "--json"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_ne!(json["accessToken"], first);
    assert!(
        introspect_active(&oidc_issuer(), json["accessToken"].as_str().unwrap())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn device_login_polls_until_approved() {
    let env = Env::new("device");
    let issuer = oidc_issuer();
    let mut child = env
        .cmd(&[
            "login",
            "--device",
            "--json",
            "--issuer",
            &issuer,
            "--client-id",
            clients::PUBLIC,
        ])
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let code = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("the code");
        if line.contains("enter the code") {
            break line.split_whitespace().last().unwrap().to_string();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Browser::new()
        .unwrap()
        .approve_device(&issuer, &code, "dana")
        .await
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["username"], "dana");
    assert_eq!(json["user"]["sub"], "dana");
}

fn assert_one_line_failure(l: &Login, code: i32, error_code: &str) {
    assert_eq!(l.output.status.code(), Some(code), "{}", l.stderr);
    assert!(stdout(&l.output).is_empty(), "no credentials on failure");
    let last = l.stderr.lines().last().unwrap();
    assert!(
        last.starts_with("sipauth: ") && last.contains(error_code),
        "{}",
        l.stderr
    );
}

#[tokio::test]
async fn rejects_a_tampered_state_at_the_listener_and_keeps_waiting() {
    let env = Env::new("tampered");
    let issuer = oidc_issuer();
    let (mut child, url, _rest) = start_login(
        &env,
        &[
            "--json",
            "--issuer",
            &issuer,
            "--client-id",
            clients::PUBLIC,
        ],
    )
    .await;
    let redirect = query_param(&url, "redirect_uri").unwrap();
    let callback = Browser::new()
        .unwrap()
        .sign_in(&url, "eve", &redirect)
        .await
        .unwrap();
    let state = query_param(&callback, "state").unwrap();
    // A tampered state, a bare request, and another path: each an error page, none ends it.
    for stray in [
        with_query_param(&callback, "state", &format!("{state}x")),
        redirect.clone(),
        format!("{}/other", redirect.trim_end_matches("/callback")),
    ] {
        let response = reqwest::get(&stray).await.unwrap();
        assert!(matches!(response.status().as_u16(), 400 | 404), "{stray}");
        assert!(!response.text().await.unwrap().contains("Signed in"));
    }
    assert!(child.try_wait().unwrap().is_none(), "still waiting");
    let response = reqwest::get(&callback).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["username"], "eve");
}

#[tokio::test]
async fn rejects_a_redirect_from_the_wrong_issuer() {
    let env = Env::new("wrong-iss");
    let l = login(&env, &["--client-id", clients::PUBLIC], "eve", |c| {
        with_query_param(&c, "iss", "https://evil.example")
    })
    .await;
    assert_one_line_failure(&l, 3, "issuer_mismatch");
    assert!(
        !l.stderr.contains("Some("),
        "no Rust debug text: {}",
        l.stderr
    );
}

#[tokio::test]
async fn rejects_an_unreachable_issuer_as_a_network_error() {
    let env = Env::new("unreachable");
    let out = env
        .run(&[
            "login",
            "--issuer",
            "http://127.0.0.1:9",
            "--client-id",
            "c",
            "--no-browser",
            "--json",
        ])
        .await;
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --json: one document saying what happened, even on failure.
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["error"], "network_error");
    assert_eq!(doc["exitCode"], 6);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim().lines().count(),
        1
    );
}

#[tokio::test]
async fn rejects_a_malformed_config_file_naming_key_and_file() {
    let env = Env::new("config");
    let path = env.dir.join("sipauth.toml");
    std::fs::write(
        &path,
        "[profiles.work]\nissuer = \"https://idp.example.com\"\nclinet_id = \"typo\"\n",
    )
    .unwrap();
    let out = env
        .run(&[
            "login",
            "--config",
            path.to_str().unwrap(),
            "--profile",
            "work",
            "--no-browser",
        ])
        .await;
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("clinet_id") && err.contains(path.to_str().unwrap()),
        "{err}"
    );

    std::fs::write(
        &path,
        "[profiles.work]\npassword_strategy = \"plaintext\"\n",
    )
    .unwrap();
    let out = env
        .run(&[
            "status",
            "--config",
            path.to_str().unwrap(),
            "--profile",
            "work",
        ])
        .await;
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plaintext"));
}

#[tokio::test]
async fn a_profile_from_the_config_file_signs_in() {
    let env = Env::new("profile");
    let path = env.dir.join("sipauth.toml");
    std::fs::write(
        &path,
        format!("[profiles.lab]\nissuer = \"{}\"\nclient_id = \"{}\"\nsip_domain = \"lab.example.com\"\n", oidc_issuer(), clients::PUBLIC),
    )
    .unwrap();
    let config = path.to_str().unwrap();
    let l = login_with(
        &env,
        &["--config", config, "--profile", "lab", "--json"],
        "fay",
        |c| c,
    )
    .await;
    assert_eq!(l.output.status.code(), Some(0), "{}", l.stderr);
    let out = l.output;
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["sipUri"], "sip:fay@lab.example.com");
}

#[tokio::test]
async fn not_signed_in_is_its_own_exit_code() {
    let env = Env::new("nobody");
    for cmd in [&["token"][..], &["status"], &["credentials"]] {
        let out = env.run(cmd).await;
        assert_eq!(out.status.code(), Some(4), "{cmd:?}");
    }
    assert_eq!(
        env.run(&["logout"]).await.status.code(),
        Some(0),
        "logout is idempotent"
    );
}

#[tokio::test]
async fn providers_completions_and_version() {
    let env = Env::new("misc");
    let out = env.run(&["providers", "--json"]).await;
    let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 7);
    let out = env.run(&["completions", "bash"]).await;
    assert!(stdout(&out).contains("complete"));
    assert_eq!(env.run(&["--version"]).await.status.code(), Some(0));
    assert_eq!(env.run(&["login", "--bogus"]).await.status.code(), Some(2));
}

#[tokio::test]
async fn environment_variables_configure_and_override_the_file() {
    let env = Env::new("envvars");
    // From the environment alone: the unreachable issuer is used (network error, not "missing").
    let out = env
        .cmd(&["login", "--no-browser"])
        .env("SIPAUTH_ISSUER", "http://127.0.0.1:9")
        .env("SIPAUTH_CLIENT_ID", "c")
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without them, the missing setting is a configuration error naming the flag.
    let out = env.run(&["login", "--no-browser"]).await;
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--client-id"));
    // A variable beats the profile in the file.
    let path = env.dir.join("sipauth.toml");
    let profile = format!(
        "[profiles.p]\nissuer = \"{}\"\nclient_id = \"{}\"\n",
        oidc_issuer(),
        clients::PUBLIC
    );
    std::fs::write(&path, profile).unwrap();
    let out = env
        .cmd(&[
            "login",
            "--config",
            path.to_str().unwrap(),
            "--profile",
            "p",
            "--no-browser",
        ])
        .env("SIPAUTH_ISSUER", "http://127.0.0.1:9")
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_keyring_store_keeps_the_login_settings() {
    let env = Env::new("keyring");
    // A profile of its own, so the test's keyring entries are its own.
    let name = format!(
        "kr{}",
        sipauth::random_urlsafe(6).unwrap().replace(['-', '_'], "x")
    );
    let path = env.dir.join("sipauth.toml");
    std::fs::write(
        &path,
        format!(
            "[profiles.{name}]\nissuer = \"{}\"\nclient_id = \"{}\"\n",
            oidc_issuer(),
            clients::PUBLIC
        ),
    )
    .unwrap();
    let config = path.to_str().unwrap();
    let args = ["--config", config, "--profile", &name, "--store", "keyring"];
    let l = login_with(&env, &args, "kim", |c| c).await;
    assert_eq!(l.output.status.code(), Some(0), "{}", l.stderr);
    assert!(!l.stderr.contains("cannot save"), "{}", l.stderr);
    // The profile now names nothing: issuer and client id must come from the saved settings.
    std::fs::write(&path, format!("[profiles.{name}]\n")).unwrap();
    let mut status = vec!["status"];
    status.extend_from_slice(&args);
    let out = env.run(&status).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("Signed in as"),
        "the report is standard output, for `sipauth status | grep`"
    );
    let mut logout = vec!["logout"];
    logout.extend_from_slice(&args);
    assert_eq!(env.run(&logout).await.status.code(), Some(0));
}

#[tokio::test]
async fn acr_values_ask_the_provider_for_an_authentication_context() {
    let env = Env::new("acr");
    let issuer = oidc_issuer();
    let (child, url, _rest) = start_login(
        &env,
        &[
            "--issuer",
            &issuer,
            "--client-id",
            clients::PUBLIC,
            "--acr-values",
            "urn:example:mfa",
        ],
    )
    .await;
    assert_eq!(
        query_param(&url, "acr_values").as_deref(),
        Some("urn:example:mfa"),
        "{url}"
    );
    drop(child);
}

#[tokio::test]
async fn the_commands_after_sign_in_list_only_their_own_options() {
    let env = Env::new("help-after-sign-in");
    for command in ["token", "status", "logout", "credentials"] {
        let out = env.run(&[command, "--help"]).await;
        let help = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{command}");
        assert!(!help.contains("--client-id"), "{command}: {help}");
        assert!(!help.contains("--password-strategy"), "{command}: {help}");
        assert!(help.lines().count() < 60, "{command}: {help}");
    }
    let credentials = env.run(&["credentials", "--help"]).await;
    assert!(String::from_utf8_lossy(&credentials.stdout).contains("--format"));
    // Hidden, not gone: a script naming the provider still works.
    let out = env.run(&["status", "--client-id", "x"]).await;
    assert_eq!(
        out.status.code(),
        Some(4),
        "not signed in, but the flag is accepted"
    );
}
