//! "Ready to make calls", proven against a real Kamailio 5.6: credentials issued after a real
//! sign-in (oidc-provider → `sipauth login` with the `api` strategy → `sipauth serve`, which
//! writes the `subscriber` row) register from JsSIP over WebSocket, from `sipauth
//! register-check`, and from SIPp over UDP. Operators' changes (`sipauth admin rotate`,
//! `disable`, deprovisioning) and wrong passwords get 403 at Kamailio; auth_ephemeral
//! credentials work until they expire; the same works with the table in PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sipauth_testkit::browser::{query_param, Browser};
use sipauth_testkit::kamailio::{Kamailio, KamailioAuth};
use sipauth_testkit::{clients, oidc_issuer, testenv_dir};
use tokio::io::AsyncWriteExt;

mod common;
use common::service::{id_token_of, provision, serve, Service};
use common::{start_login, Env};

const DOMAIN: &str = "sip.test";

/// The service with Kamailio reading its SQLite file.
async fn service_and_kamailio(env: &Env) -> (Service, Kamailio) {
    // The service first: its migrations create the subscriber table Kamailio reads.
    let placeholder = serve(
        env,
        &["--sip-domain", DOMAIN, "--ws-uri", "ws://127.0.0.1:9/"],
    )
    .await;
    let db = placeholder.database.clone();
    drop(placeholder);
    let kamailio = Kamailio::start(KamailioAuth::Sqlite(db.into()))
        .await
        .unwrap();
    let ws = kamailio.ws_uri.clone();
    let service = serve(env, &["--sip-domain", DOMAIN, "--ws-uri", &ws]).await;
    (service, kamailio)
}

/// `sipauth register-check ARGS`: (exit code, the --json document).
async fn register_check(env: &Env, args: &[&str], password: Option<&str>) -> (i32, Value) {
    let mut all = vec!["register-check", "--json", "--timeout", "10"];
    all.extend_from_slice(args);
    let mut cmd = env.cmd(&all);
    if let Some(p) = password {
        cmd.env("SIPAUTH_SIP_PASSWORD", p);
    }
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .unwrap()
        .unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "one JSON document; stdout {:?} stderr {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), doc)
}

/// Registers `username`/`password` explicitly over WebSocket at `kamailio`.
async fn check_ws(
    env: &Env,
    kamailio: &Kamailio,
    username: &str,
    password: &str,
    auth: Option<&str>,
) -> (i32, Value) {
    let mut args = vec![
        "--ws-uri",
        &kamailio.ws_uri,
        "--username",
        username,
        "--domain",
        DOMAIN,
    ];
    if let Some(a) = auth {
        args.extend(["--auth-username", a]);
    }
    register_check(env, &args, Some(password)).await
}

/// JsSIP registers with the configuration on stdin: (exit code, its report).
async fn jssip_register(config: &str) -> (i32, Value) {
    let mut child = tokio::process::Command::new("node")
        .arg(testenv_dir().join("jssip").join("register.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(config.as_bytes())
        .await
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let last = report.lines().last().unwrap_or_default();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(last).unwrap_or_else(|_| Value::String(report.to_string())),
    )
}

/// SIPp registers over UDP: its exit code.
async fn sipp_register(kamailio: &Kamailio, username: &str, password: &str) -> i32 {
    let scenario = testenv_dir().join("sipp").join("register.xml");
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new("sipp")
            .arg(kamailio.udp.to_string())
            .arg("-sf")
            .arg(&scenario)
            .args([
                "-s", username, "-au", username, "-ap", password, "-key", "domain", DOMAIN,
            ])
            .args([
                "-m",
                "1",
                "-t",
                "u1",
                "-i",
                "127.0.0.1",
                "-p",
                "0",
                "-timeout",
                "10s",
                "-timeout_error",
                "-nostdin",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    out.status.code().unwrap_or(-1)
}

#[tokio::test]
async fn credentials_from_a_real_sign_in_register_from_jssip_register_check_and_sipp() {
    let env = Env::new("kam-e2e");
    let (service, kamailio) = service_and_kamailio(&env).await;
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
            DOMAIN,
            "--ws-uri",
            &kamailio.ws_uri,
        ],
    )
    .await;
    let redirect = query_param(&url, "redirect_uri").unwrap();
    let callback = Browser::new()
        .unwrap()
        .sign_in(&url, "kim", &redirect)
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
    assert_eq!(creds["sipUri"], format!("sip:kim@{DOMAIN}"));
    let password = creds["password"].as_str().unwrap().to_string();

    // (a) JsSIP, with the configuration the command prints.
    let jssip = env.run(&["credentials", "--format", "jssip"]).await;
    assert_eq!(
        jssip.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&jssip.stderr)
    );
    let (code, report) = jssip_register(&String::from_utf8_lossy(&jssip.stdout)).await;
    assert_eq!(code, 0, "JsSIP: {report}\n{}", kamailio.log());
    assert_eq!(report["registered"], true);

    // (b) register-check, with the signed-in profile's credentials.
    let (code, doc) = register_check(&env, &[], None).await;
    assert_eq!(code, 0, "{doc}\n{}", kamailio.log());
    assert_eq!(doc["registered"], true);
    let steps: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["connected", "challenged", "answered", "unregistered"],
        "{doc}"
    );
    assert_eq!(doc["steps"][2]["status"], 200);

    // (c) SIPp over UDP.
    assert_eq!(
        sipp_register(&kamailio, "kim", &password).await,
        0,
        "{}",
        kamailio.log()
    );
}

#[tokio::test]
async fn rotation_disable_deprovision_and_wrong_passwords_get_403_at_kamailio() {
    let env = Env::new("kam-ops");
    let (service, kamailio) = service_and_kamailio(&env).await;
    let token = id_token_of("lou").await;
    let (status, first) = provision(&service, &token).await;
    assert_eq!(status, 200, "{first}");
    let old = first["password"].as_str().unwrap().to_string();
    assert_eq!(
        check_ws(&env, &kamailio, "lou", &old, None).await.0,
        0,
        "{}",
        kamailio.log()
    );

    // A wrong password: refused (exit 9), with Kamailio's 403.
    let (code, doc) = check_ws(&env, &kamailio, "lou", "not-the-password", None).await;
    assert_eq!(code, 9, "{doc}");
    assert_eq!(doc["error"], "sip_refused");
    assert_eq!(doc["result"]["status"], 403, "{doc}");

    // Rotation: the old password 403 at once, the new one 200.
    let db = service.database.clone();
    let secret = env
        .dir
        .join("data")
        .join("server.secret")
        .display()
        .to_string();
    let admin = |action: &'static str| {
        let (db, secret) = (db.clone(), secret.clone());
        let env = &env;
        async move {
            let out = env
                .run(&[
                    "admin",
                    "--database",
                    &db,
                    "--secret-file",
                    &secret,
                    action,
                    "lou",
                ])
                .await;
            assert_eq!(
                out.status.code(),
                Some(0),
                "{action}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    admin("rotate").await;
    assert_eq!(
        check_ws(&env, &kamailio, "lou", &old, None).await.0,
        9,
        "the old password is dead"
    );
    let (_, second) = provision(&service, &token).await;
    let new = second["password"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(check_ws(&env, &kamailio, "lou", &new, None).await.0, 0);

    // Disabled: 403 for the current password.
    admin("disable").await;
    assert_eq!(check_ws(&env, &kamailio, "lou", &new, None).await.0, 9);
    admin("enable").await;
    assert_eq!(provision(&service, &token).await.0, 200);
    assert_eq!(check_ws(&env, &kamailio, "lou", &new, None).await.0, 0);

    // Deprovisioned by the person: 403.
    let gone = reqwest::Client::new()
        .delete(format!("{}/api/sip/provision", service.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    assert_eq!(check_ws(&env, &kamailio, "lou", &new, None).await.0, 9);
}

#[tokio::test]
async fn ephemeral_credentials_register_until_they_expire() {
    let env = Env::new("kam-eph");
    let secret_file = env.dir.join("ephemeral.secret");
    std::fs::write(&secret_file, "kamailio-shared-secret\n").unwrap();
    let kamailio = Kamailio::start(KamailioAuth::Ephemeral {
        secret: "kamailio-shared-secret".into(),
        sha256: false,
    })
    .await
    .unwrap();
    let service = serve(
        &env,
        &[
            "--sip-domain",
            DOMAIN,
            "--ws-uri",
            &kamailio.ws_uri,
            "--backend",
            "ephemeral",
            "--ephemeral-secret-file",
            secret_file.to_str().unwrap(),
            "--ephemeral-ttl",
            "3",
        ],
    )
    .await;
    let token = id_token_of("eve").await;
    let (status, creds) = provision(&service, &token).await;
    assert_eq!(status, 200, "{creds}");
    assert_eq!(creds["username"], "eve");
    let auth = creds["authorizationUsername"].as_str().unwrap().to_string();
    assert!(auth.ends_with(":eve"), "{auth}");
    let password = creds["password"].as_str().unwrap().to_string();
    let (code, doc) = check_ws(&env, &kamailio, "eve", &password, Some(&auth)).await;
    assert_eq!(code, 0, "{doc}\n{}", kamailio.log());
    // After the expiry Kamailio refuses the same credentials.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (code, doc) = check_ws(&env, &kamailio, "eve", &password, Some(&auth)).await;
    assert_eq!(code, 9, "{doc}");
}

#[tokio::test]
async fn the_subscriber_table_in_postgresql_works_the_same() {
    let Ok(pg) = std::env::var("SIPAUTH_TEST_POSTGRES_URL") else {
        panic!("SIPAUTH_TEST_POSTGRES_URL is not set: run testenv/start.sh");
    };
    // A database of its own, so other tests' rows do not matter.
    let name = format!(
        "kam_{}",
        sipauth::random_urlsafe(6)
            .unwrap()
            .to_ascii_lowercase()
            .replace(['-', '_'], "x")
    );
    let admin = sipauth_provision::Database::open(&pg).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(admin.pool())
        .await
        .unwrap();
    let url = match pg.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("{pg}"),
    };
    let env = Env::new("kam-pg");
    let placeholder = serve(&env, &["--sip-domain", DOMAIN, "--database", &url]).await;
    drop(placeholder);
    let kamailio = Kamailio::start(KamailioAuth::Postgres(url.clone()))
        .await
        .unwrap();
    let service = serve(
        &env,
        &[
            "--sip-domain",
            DOMAIN,
            "--ws-uri",
            &kamailio.ws_uri,
            "--database",
            &url,
        ],
    )
    .await;
    let token = id_token_of("pat").await;
    let (status, creds) = provision(&service, &token).await;
    assert_eq!(status, 200, "{creds}");
    let password = creds["password"].as_str().unwrap();
    let (code, doc) = check_ws(&env, &kamailio, "pat", password, None).await;
    assert_eq!(code, 0, "{doc}\n{}", kamailio.log());
    assert_eq!(check_ws(&env, &kamailio, "pat", "wrong", None).await.0, 9);
}
