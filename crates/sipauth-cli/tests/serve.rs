//! `sipauth serve` as the real binary, with the real oidc-provider: the end-to-end path of the
//! provisioning service. `sipauth login --password-strategy api --api-endpoint .../api/sip/provision`
//! signs in, posts its (opaque) access token, and prints the credentials the service made; the
//! service's database holds the Kamailio `subscriber` row for exactly that password.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sipauth_testkit::browser::{query_param, Browser};
use sipauth_testkit::{clients, oidc_issuer};
use tokio::io::{AsyncBufReadExt, BufReader};

mod common;
use common::{start_login, Env};

/// A running `sipauth serve`; killed when dropped.
struct Service {
    child: tokio::process::Child,
    base: String,
    database: String,
}

async fn serve(env: &Env, extra: &[&str]) -> Service {
    let secret_file = env.dir.join("introspection.secret");
    std::fs::write(
        &secret_file,
        format!("{}\n", clients::CONFIDENTIAL_BASIC_SECRET),
    )
    .unwrap();
    let database = env.dir.join("server.db").display().to_string();
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
        "--sip-domain",
        "sip.example.com",
        "--ws-uri",
        "ws://127.0.0.1:8088/ws",
        "--database",
        &database,
    ];
    args.extend_from_slice(extra);
    let mut child = env.cmd(&args).stdout(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("`listening on` on stderr");
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.trim().to_string();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Service {
        child,
        base,
        database,
    }
}

#[tokio::test]
async fn login_with_the_api_strategy_gets_credentials_from_sipauth_serve() {
    let env = Env::new("serve-e2e");
    let mut service = serve(&env, &[]).await;
    let endpoint = format!("{}/api/sip/provision", service.base);
    let issuer = oidc_issuer();
    let (child, url, rest) = start_login(
        &env,
        &[
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
            "sip.example.com",
        ],
    )
    .await;
    let redirect = query_param(&url, "redirect_uri").unwrap();
    let callback = Browser::new()
        .unwrap()
        .sign_in(&url, "erin", &redirect)
        .await
        .unwrap();
    reqwest::get(&callback).await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = rest.await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let creds: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(creds["username"], "erin", "{creds}");
    assert_eq!(creds["sipUri"], "sip:erin@sip.example.com");
    let password = creds["password"].as_str().unwrap().to_string();

    // The service wrote the row Kamailio reads, for exactly this password.
    let db = sipauth_provision::Database::open(&service.database)
        .await
        .unwrap();
    let row: (String,) = sqlx_row(&db, "erin").await;
    assert_eq!(
        row.0,
        sipauth_provision::ha1("erin", "sip.example.com", &password)
    );

    // SIGTERM: a graceful stop, exit 0.
    let pid = service.child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), service.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

async fn sqlx_row(db: &sipauth_provision::Database, username: &str) -> (String,) {
    use sqlx::Row;
    let row = sqlx::query("SELECT ha1 FROM subscriber WHERE username = $1")
        .bind(username.to_string())
        .fetch_one(db.pool())
        .await
        .unwrap();
    (row.get(0),)
}

#[tokio::test]
async fn rejects_a_service_without_an_issuer_or_audience() {
    let env = Env::new("serve-bad");
    let out = env.run(&["serve", "--listen", "127.0.0.1:0"]).await;
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--issuer"));
    let issuer = oidc_issuer();
    let out = env
        .run(&["serve", "--listen", "127.0.0.1:0", "--issuer", &issuer])
        .await;
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--audience"));
}
