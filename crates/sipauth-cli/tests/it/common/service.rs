//! A running `sipauth serve` (the real binary) and what tests do with it: sign a person in at the
//! real provider and provision them over HTTP, or run `sipauth login` with the `api` password
//! strategy against it.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sipauth_testkit::browser::{query_param, Browser};
use sipauth_testkit::{clients, oidc_issuer};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::Env;

/// A running `sipauth serve`; killed when dropped.
pub(crate) struct Service {
    pub child: tokio::process::Child,
    pub base: String,
    pub database: String,
    /// Every line it wrote on standard error.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Service {
    pub(crate) async fn stop(&mut self) {
        let pid = self.child.id().unwrap();
        assert!(sipauth_testkit::process::signal(
            pid,
            sipauth_testkit::process::Signal::Term
        ));
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status.code(), Some(0));
    }
}

/// Starts `sipauth serve` with exactly `args` and waits for `listening on`.
pub(crate) async fn spawn_service(env: &Env, args: &[&str], database: String) -> Service {
    let mut child = env.cmd(args).stdout(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let base = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap_or_else(|| panic!("`listening on` on stderr; got {:?}", log.lock().unwrap()));
        log.lock().unwrap().push(line.clone());
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.trim().to_string();
        }
    };
    let sink = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    Service {
        child,
        base,
        database,
        log,
    }
}

pub(crate) async fn serve(env: &Env, extra: &[&str]) -> Service {
    let secret_file = env.dir.join("introspection.secret");
    std::fs::write(
        &secret_file,
        format!("{}\n", clients::CONFIDENTIAL_BASIC_SECRET),
    )
    .unwrap();
    let database = extra
        .iter()
        .position(|a| *a == "--database")
        .and_then(|i| extra.get(i + 1))
        .map(|d| d.to_string())
        .unwrap_or_else(|| env.dir.join("server.db").display().to_string());
    let issuer = oidc_issuer();
    let mut args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--issuer",
        &issuer,
        "--audience",
        clients::PUBLIC,
        "--introspection-client-id",
        clients::CONFIDENTIAL_BASIC,
        "--introspection-client-secret-file",
        secret_file.to_str().unwrap(),
    ];
    // Defaults for what `extra` does not set.
    for (flag, value) in [
        ("--sip-domain", "sip.example.com"),
        ("--ws-uri", "ws://127.0.0.1:8088/ws"),
    ] {
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    if !extra.contains(&"--database") {
        args.extend(["--database", &database]);
    }
    // On PostgreSQL the operator hands every instance one secret (an instance never makes its
    // own there): here, one per test environment.
    let shared_secret = shared_secret(env);
    if database.starts_with("postgres") && !extra.contains(&"--secret-file") {
        args.extend(["--secret-file", shared_secret.to_str().unwrap()]);
    }
    args.extend_from_slice(extra);
    spawn_service(env, &args, database.clone()).await
}

/// The server secret an operator made for the instances of `env` (made on first use).
pub(crate) fn shared_secret(env: &Env) -> std::path::PathBuf {
    let path = env.dir.join("shared.secret");
    if !path.exists() {
        std::fs::write(&path, format!("{}\n", sipauth::random_urlsafe(32).unwrap())).unwrap();
    }
    path
}

/// An ID token of `login`, signed in at the real provider.
pub(crate) async fn id_token_of(login: &str) -> String {
    const REDIRECT: &str = "http://127.0.0.1:5568/callback";
    sipauth_testkit::signin::tokens_of(&oidc_issuer(), clients::PUBLIC, login, REDIRECT)
        .await
        .id_token
}

/// `POST /api/sip/provision` with `token`: (status, body).
pub(crate) async fn provision(service: &Service, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/sip/provision", service.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// `sipauth login --json` as `login` at the real provider with the `api` password strategy
/// pointing at `service` and the SIP domain `domain` (plus `extra` options); the credentials it
/// printed, once it exited 0.
pub(crate) async fn login_with_api_strategy(
    env: &super::Env,
    service: &Service,
    login: &str,
    domain: &str,
    extra: &[&str],
) -> Value {
    let endpoint = format!("{}/api/sip/provision", service.base);
    let issuer = oidc_issuer();
    let mut args = vec![
        "--json",
        "--issuer",
        &issuer,
        "--client-id",
        clients::PUBLIC,
        "--password-strategy",
        "api",
        "--api-endpoint",
        &endpoint,
        "--sip-domain",
        domain,
    ];
    args.extend_from_slice(extra);
    let (child, url, rest) = super::start_login(env, &args).await;
    let redirect = query_param(&url, "redirect_uri").unwrap();
    let callback = Browser::new()
        .unwrap()
        .sign_in(&url, login, &redirect)
        .await
        .unwrap();
    super::finish_login(child, rest, &callback).await
}
