//! `sipauth serve` as the real binary, with the real oidc-provider: the end-to-end path of the
//! provisioning service. `sipauth login --password-strategy api --api-endpoint .../api/sip/provision`
//! signs in, posts its (opaque) access token, and prints the credentials the service made; the
//! service's database holds the Kamailio `subscriber` row for exactly that password.

use serde_json::Value;
use sipauth_testkit::{clients, oidc_issuer};

use crate::common::service::{
    id_token_of, login_with_api_strategy, provision, serve, spawn_service, Service,
};
use crate::common::Env;

#[tokio::test]
async fn login_with_the_api_strategy_gets_credentials_from_sipauth_serve() {
    let env = Env::new("serve-e2e");
    let mut service = serve(&env, &[]).await;
    let creds = login_with_api_strategy(&env, &service, "erin", "sip.example.com", &[]).await;
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
    service.stop().await;
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

#[tokio::test]
async fn rejects_starting_on_postgresql_without_the_operators_shared_secret() {
    // A secret one instance made for itself would give people other passwords (and unreadable
    // sessions) at the others: on PostgreSQL the service never makes one.
    let url = crate::kamailio::fresh_postgres("nosecret").await;
    let env = Env::new("serve-pg-nosecret");
    let issuer = oidc_issuer();
    let missing = env.dir.join("missing.secret");
    let out = env
        .run(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--issuer",
            &issuer,
            "--audience",
            "x",
            "--database",
            &url,
            "--secret-file",
            missing.to_str().unwrap(),
        ])
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("every instance needs the same server secret"),
        "{stderr}"
    );
    assert!(!missing.exists(), "no secret was made");
    // `sipauth admin` on that database refuses the same way.
    let out = env
        .run(&[
            "admin",
            "--database",
            &url,
            "--secret-file",
            missing.to_str().unwrap(),
            "list",
        ])
        .await;
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!missing.exists());
}

async fn admin(env: &Env, service: &Service, args: &[&str]) -> (i32, Value) {
    let secret = env.dir.join("server.secret").display().to_string();
    let mut all = vec![
        "admin",
        "--json",
        "--database",
        &service.database,
        "--secret-file",
        &secret,
    ];
    all.extend_from_slice(args);
    let out = env.run(&all).await;
    let body = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap(), body)
}

#[tokio::test]
async fn admin_changes_take_effect_and_a_restart_from_a_config_file_keeps_every_password() {
    let env = Env::new("serve-admin");
    let secret = env.dir.join("server.secret").display().to_string();
    let mut service = serve(&env, &["--secret-file", &secret, "--log-format", "json"]).await;
    let token = id_token_of("gina").await;
    let (status, first) = provision(&service, &token).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["username"], "gina");

    let (code, list) = admin(&env, &service, &["list"]).await;
    assert_eq!(code, 0);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["username"], "gina");
    assert_eq!(list[0]["enabled"], true);

    // Rotation: a new password, written for Kamailio at once.
    let (code, rotated) = admin(&env, &service, &["rotate", "gina"]).await;
    assert_eq!(code, 0, "{rotated}");
    assert_eq!(rotated["generation"], 1);
    let (_, second) = provision(&service, &token).await;
    assert_ne!(second["password"], first["password"]);

    // Disabled: refused; enabled again: the same (rotated) password.
    assert_eq!(admin(&env, &service, &["disable", "gina"]).await.0, 0);
    let (status, refused) = provision(&service, &token).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"], "account_disabled");
    assert_eq!(admin(&env, &service, &["enable", "gina"]).await.0, 0);
    let (status, back) = provision(&service, &token).await;
    assert_eq!(status, 200);
    assert_eq!(back["password"], second["password"]);

    // The audit log says who did what, from where.
    let (code, audit) = admin(&env, &service, &["audit", "--since", "1h"]).await;
    assert_eq!(code, 0);
    let actions: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    for want in [
        ("provision", "ok"),
        ("rotate", "ok"),
        ("disable", "ok"),
        ("provision", "account_disabled"),
        ("enable", "ok"),
    ] {
        assert!(actions.contains(&want), "{want:?} in {actions:?}");
    }
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["client_ip"] == "127.0.0.1"),
        "{audit}"
    );

    // Logs are JSON lines, and no secret is in them.
    service.stop().await;
    let log = service.log.lock().unwrap().clone();
    let json_lines: Vec<Value> = log
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(json_lines.iter().any(|l| l["level"] == "INFO"), "{log:?}");
    let all = log.join("\n");
    for secret in [
        &token,
        first["password"].as_str().unwrap(),
        second["password"].as_str().unwrap(),
    ] {
        assert!(!all.contains(secret), "a secret in the log");
    }

    // Restart from a config file holding the same settings: every account and password kept.
    let introspection = env.dir.join("introspection.secret").display().to_string();
    let config = env.dir.join("service.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndatabase = \"{}\"\nsecret_file = \"{secret}\"\n\n[[issuer]]\nurl = \"{}\"\naudiences = [\"{}\"]\nintrospection_client_id = \"{}\"\nintrospection_client_secret_file = \"{introspection}\"\n\n[sip]\ndomain = \"sip.example.com\"\nws_uri = \"ws://127.0.0.1:8088/ws\"\n",
            service.database,
            oidc_issuer(),
            clients::PUBLIC,
            clients::CONFIDENTIAL_BASIC,
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let mut again = spawn_service(
        &env,
        &["--config", &config, "serve"],
        service.database.clone(),
    )
    .await;
    let (status, after) = provision(&again, &token).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(
        after["password"], second["password"],
        "the same password after a restart"
    );
    assert_eq!(after["username"], "gina");

    // Delete: gone from the list; an unknown account is exit 8.
    assert_eq!(admin(&env, &again, &["delete", "gina"]).await.0, 0);
    assert_eq!(
        admin(&env, &again, &["list"]).await.1,
        serde_json::json!([])
    );
    let (code, missing) = admin(&env, &again, &["show", "nobody"]).await;
    assert_eq!(code, 8, "{missing}");
    assert_eq!(missing["error"], "not_found");
    again.stop().await;
}

#[tokio::test]
async fn rejects_config_files_with_unknown_keys_naming_key_and_line() {
    let env = Env::new("serve-badconfig");
    let config = env.dir.join("service.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\n[sip]\nwebsocket = \"ws://x\"\n",
    )
    .unwrap();
    let out = env
        .run(&["--config", config.to_str().unwrap(), "serve"])
        .await;
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3") && stderr.contains("websocket"),
        "{stderr}"
    );
}
