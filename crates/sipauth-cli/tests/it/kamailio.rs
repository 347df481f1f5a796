//! "Ready to make calls", proven against a real Kamailio 5.6: credentials issued after a real
//! sign-in (oidc-provider → `sipauth login` with the `api` strategy → `sipauth serve`, which
//! writes the `subscriber` row) register from JsSIP over WebSocket, from `sipauth
//! register-check`, and from SIPp over UDP. Operators' changes (`sipauth admin rotate`,
//! `disable`, deprovisioning) and wrong passwords get 403 at Kamailio; auth_ephemeral
//! credentials work until they expire; the provider's directory (SCIM deactivation, deletion)
//! refuses the old credentials at once; the same works with the table in PostgreSQL.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sipauth_testkit::kamailio::{Kamailio, KamailioAuth};
use sipauth_testkit::testenv_dir;
use tokio::io::AsyncWriteExt;

use crate::common::service::{id_token_of, login_with_api_strategy, provision, serve, Service};
use crate::common::Env;

pub(crate) const DOMAIN: &str = "sip.test";

/// The service with Kamailio reading its SQLite file; the service names Kamailio's WebSocket
/// server and its UDP registrar (`sipServer`).
pub(crate) async fn service_and_kamailio(env: &Env) -> (Service, Kamailio) {
    service_and_kamailio_with(env, &[]).await
}

/// The same, with more flags for the service.
pub(crate) async fn service_and_kamailio_with(env: &Env, extra: &[&str]) -> (Service, Kamailio) {
    service_and_kamailio_defines(env, extra, &[]).await
}

/// The same, and the service tells Kamailio (its JSON-RPC) when registrations end.
pub(crate) async fn service_and_kamailio_rpc(env: &Env, extra: &[&str]) -> (Service, Kamailio) {
    service_and_kamailio_full(env, extra, &[], true).await
}

/// The same, with more defines for Kamailio's configuration (`GATEWAY=...`).
pub(crate) async fn service_and_kamailio_defines(
    env: &Env,
    extra: &[&str],
    defines: &[String],
) -> (Service, Kamailio) {
    service_and_kamailio_full(env, extra, defines, false).await
}

async fn service_and_kamailio_full(
    env: &Env,
    extra: &[&str],
    defines: &[String],
    rpc: bool,
) -> (Service, Kamailio) {
    // The service first: its migrations create the subscriber table Kamailio reads.
    let placeholder = serve(
        env,
        &["--sip-domain", DOMAIN, "--ws-uri", "ws://127.0.0.1:9/"],
    )
    .await;
    let db = placeholder.database.clone();
    drop(placeholder);
    let kamailio = Kamailio::start_with(KamailioAuth::Sqlite(db.into()), defines)
        .await
        .unwrap();
    let ws = kamailio.ws_uri.clone();
    let sip_server = kamailio.sip_server("udp");
    let mut args = vec![
        "--sip-domain",
        DOMAIN,
        "--ws-uri",
        &ws,
        "--sip-server",
        &sip_server,
    ];
    args.extend_from_slice(extra);
    let rpc_url = kamailio.rpc_url.clone();
    if rpc {
        args.extend(["--kamailio-rpc-url", &rpc_url]);
    }
    let service = serve(env, &args).await;
    (service, kamailio)
}

/// `sipauth register-check ARGS`: (exit code, the --json document).
pub(crate) async fn register_check(
    env: &Env,
    args: &[&str],
    password: Option<&str>,
) -> (i32, Value) {
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
pub(crate) async fn jssip_register(config: &str) -> (i32, Value) {
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
    let creds = login_with_api_strategy(
        &env,
        &service,
        "kim",
        DOMAIN,
        &["--ws-uri", &kamailio.ws_uri],
    )
    .await;
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

/// A provisioned person and their current password.
async fn provisioned(env: &Env, login: &str) -> (Service, Kamailio, String, String) {
    let (service, kamailio) = service_and_kamailio(env).await;
    let token = id_token_of(login).await;
    let (status, first) = provision(&service, &token).await;
    assert_eq!(status, 200, "{first}");
    let password = first["password"].as_str().unwrap().to_string();
    assert_eq!(
        check_ws(env, &kamailio, login, &password, None).await.0,
        0,
        "{}",
        kamailio.log()
    );
    (service, kamailio, token, password)
}

/// `sipauth admin ACTION USER` on the service's database; must succeed.
async fn admin(env: &Env, service: &Service, action: &str, user: &str) {
    let secret = env
        .dir
        .join("data")
        .join("server.secret")
        .display()
        .to_string();
    let out = env
        .run(&[
            "admin",
            "--database",
            &service.database,
            "--secret-file",
            &secret,
            action,
            user,
        ])
        .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn rejects_a_wrong_password_with_kamailios_403() {
    let env = Env::new("kam-wrong");
    let (_service, kamailio, _, _) = provisioned(&env, "lou").await;
    let (code, doc) = check_ws(&env, &kamailio, "lou", "not-the-password", None).await;
    assert_eq!(code, 9, "{doc}");
    assert_eq!(doc["error"], "sip_refused");
    assert_eq!(doc["result"]["status"], 403, "{doc}");
}

#[tokio::test]
async fn rejects_the_old_password_at_once_after_admin_rotate() {
    let env = Env::new("kam-rotate");
    let (service, kamailio, token, old) = provisioned(&env, "max").await;
    admin(&env, &service, "rotate", "max").await;
    assert_eq!(
        check_ws(&env, &kamailio, "max", &old, None).await.0,
        9,
        "the old password is dead"
    );
    let (_, second) = provision(&service, &token).await;
    let new = second["password"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(check_ws(&env, &kamailio, "max", &new, None).await.0, 0);
}

#[tokio::test]
async fn rejects_a_disabled_account_until_it_is_enabled() {
    let env = Env::new("kam-disable");
    let (service, kamailio, token, password) = provisioned(&env, "nia").await;
    admin(&env, &service, "disable", "nia").await;
    assert_eq!(check_ws(&env, &kamailio, "nia", &password, None).await.0, 9);
    assert_eq!(
        provision(&service, &token).await.0,
        403,
        "no credentials while disabled"
    );
    admin(&env, &service, "enable", "nia").await;
    assert_eq!(provision(&service, &token).await.0, 200);
    assert_eq!(check_ws(&env, &kamailio, "nia", &password, None).await.0, 0);
}

#[tokio::test]
async fn rejects_a_deprovisioned_account() {
    let env = Env::new("kam-deprov");
    let (service, kamailio, token, password) = provisioned(&env, "oda").await;
    let gone = reqwest::Client::new()
        .delete(format!("{}/api/sip/provision", service.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    assert_eq!(check_ws(&env, &kamailio, "oda", &password, None).await.0, 9);
}

#[tokio::test]
async fn jssip_in_chromium_registers_with_what_the_web_page_shows() {
    let env = Env::new("kam-browser");
    let data = env.dir.join("data");
    let db = data.join("server.db").display().to_string();
    // The service first (its migrations make the table), then Kamailio on its file, then the
    // service again, naming Kamailio's WebSocket server.
    let first = crate::common::service::spawn_service(
        &env,
        &["serve", "--dev", "--listen", "127.0.0.1:0"],
        db.clone(),
    )
    .await;
    drop(first);
    let kamailio = Kamailio::start(KamailioAuth::Sqlite(db.clone().into()))
        .await
        .unwrap();
    let service = crate::common::service::spawn_service(
        &env,
        &[
            "serve",
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--ws-uri",
            &kamailio.ws_uri,
        ],
        db,
    )
    .await;
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    let (code, doc) = crate::common::node(
        "browser-signin.mjs",
        &[&service.base, "dev", artifacts.to_str().unwrap()],
        &[("REGISTER", "1")],
    )
    .await;
    assert_eq!(code, 0, "{doc}\n{}", kamailio.log());
    assert_eq!(doc["registered"], true, "{doc}");
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

const SCIM_SECRET: &str = "the-scim-secret-of-the-kamailio-tests";

/// `--scim-token-file` for the flag issuer, written in `env`.
fn scim_flag(env: &Env) -> String {
    let file = env.dir.join("scim.secret");
    std::fs::write(&file, format!("{SCIM_SECRET}\n")).unwrap();
    file.display().to_string()
}

/// A SCIM request to `service` with the secret: (status, body).
async fn scim(
    service: &Service,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}/scim/v2{path}", service.base))
        .bearer_auth(SCIM_SECRET);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

fn scim_active(active: bool) -> Option<Value> {
    Some(serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": if active { "True" } else { "False" }}]
    }))
}

/// What the provider's directory does at Kamailio: deactivation and deletion refuse the old
/// credentials (403) at once; re-activation and a new sign-in register again.
async fn the_directory_governs_registration(
    env: &Env,
    service: &Service,
    kamailio: &Kamailio,
    login: &str,
) {
    let token = id_token_of(login).await;
    let (status, first) = provision(service, &token).await;
    assert_eq!(status, 200, "{first}");
    let old = first["password"].as_str().unwrap().to_string();
    assert_eq!(
        check_ws(env, kamailio, login, &old, None).await.0,
        0,
        "{}",
        kamailio.log()
    );
    let (status, user) = scim(
        service,
        reqwest::Method::POST,
        "/Users",
        Some(serde_json::json!({"userName": format!("{login}@example.com"), "externalId": login, "active": true})),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let id = user["id"].as_str().unwrap().to_string();
    let (status, _) = scim(
        service,
        reqwest::Method::PATCH,
        &format!("/Users/{id}"),
        scim_active(false),
    )
    .await;
    assert_eq!(status, 200);
    let (code, doc) = check_ws(env, kamailio, login, &old, None).await;
    assert_eq!(
        (code, &doc["result"]["status"]),
        (9, &Value::from(403)),
        "{doc}"
    );
    assert_eq!(provision(service, &token).await.0, 403);
    // Re-activated: a new password registers, the old one stays dead.
    let (status, _) = scim(
        service,
        reqwest::Method::PATCH,
        &format!("/Users/{id}"),
        scim_active(true),
    )
    .await;
    assert_eq!(status, 200);
    let (status, second) = provision(service, &token).await;
    assert_eq!(status, 200, "{second}");
    let new = second["password"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(check_ws(env, kamailio, login, &new, None).await.0, 0);
    assert_eq!(check_ws(env, kamailio, login, &old, None).await.0, 9);
    // Deleted: refused at Kamailio and at the API until the provider pushes the person again.
    let (status, _) = scim(
        service,
        reqwest::Method::DELETE,
        &format!("/Users/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(check_ws(env, kamailio, login, &new, None).await.0, 9);
    let (status, refused) = provision(service, &token).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("account_disabled"))
    );
}

/// Registers `username` over UDP and keeps the binding (a phone that stays registered).
async fn register_and_stay(env: &Env, kamailio: &Kamailio, username: &str, password: &str) {
    let server = kamailio.udp.to_string();
    let (code, doc) = register_check(
        env,
        &[
            "--server",
            &server,
            "--username",
            username,
            "--domain",
            DOMAIN,
            "--keep",
        ],
        Some(password),
    )
    .await;
    assert_eq!(code, 0, "{doc}\n{}", kamailio.log());
    assert!(
        kamailio.has_contact(username).await,
        "{}",
        kamailio
            .rpc("ul.dump", Value::Null)
            .await
            .unwrap_or_default()
    );
}

#[tokio::test]
async fn ending_access_removes_what_is_registered_from_kamailios_location_table() {
    let env = Env::new("kam-ulrm");
    let file = scim_flag(&env);
    // Kamailio first, for its RPC URL; the service's placeholder made the tables.
    let placeholder = serve(
        &env,
        &["--sip-domain", DOMAIN, "--ws-uri", "ws://127.0.0.1:9/"],
    )
    .await;
    let db = placeholder.database.clone();
    drop(placeholder);
    let kamailio = Kamailio::start(KamailioAuth::Sqlite(db.into()))
        .await
        .unwrap();
    let service = serve(
        &env,
        &[
            "--sip-domain",
            DOMAIN,
            "--ws-uri",
            &kamailio.ws_uri,
            "--scim-token-file",
            &file,
            "--kamailio-rpc-url",
            &kamailio.rpc_url,
            "--credential-ttl",
            "3",
        ],
    )
    .await;
    // SCIM deactivation: the contact goes with the answer.
    let token = id_token_of("uma").await;
    let (status, creds) = provision(&service, &token).await;
    assert_eq!(status, 200, "{creds}");
    register_and_stay(&env, &kamailio, "uma", creds["password"].as_str().unwrap()).await;
    let (status, user) = scim(
        &service,
        reqwest::Method::POST,
        "/Users",
        Some(serde_json::json!({"userName": "uma@example.com", "externalId": "uma", "active": false})),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    assert!(
        !kamailio.has_contact("uma").await,
        "removed when the answer came"
    );
    // A lease that ends: the sweeper removes the contact too.
    let token = id_token_of("val").await;
    let (status, creds) = provision(&service, &token).await;
    assert_eq!(status, 200, "{creds}");
    register_and_stay(&env, &kamailio, "val", creds["password"].as_str().unwrap()).await;
    let mut gone = false;
    for _ in 0..40 {
        if !kamailio.has_contact("val").await {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(gone, "the lease's end removed the contact");
    // An operator's disable, from `sipauth admin` (the service's settings from the
    // environment): the contact goes too.
    let token = id_token_of("wes").await;
    let (status, creds) = provision(&service, &token).await;
    assert_eq!(status, 200, "{creds}");
    register_and_stay(&env, &kamailio, "wes", creds["password"].as_str().unwrap()).await;
    let secret = env
        .dir
        .join("data")
        .join("server.secret")
        .display()
        .to_string();
    let out = env
        .cmd(&[
            "admin",
            "--database",
            &service.database,
            "--secret-file",
            &secret,
            "disable",
            "wes",
        ])
        .env("SIPAUTH_KAMAILIO_RPC_URLS", &kamailio.rpc_url)
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !kamailio.has_contact("wes").await,
        "removed by the operator's disable"
    );
}

#[tokio::test]
async fn ending_access_ends_a_call_in_progress() {
    let env = Env::new("kam-call");
    let file = scim_flag(&env);
    let placeholder = serve(
        &env,
        &["--sip-domain", DOMAIN, "--ws-uri", "ws://127.0.0.1:9/"],
    )
    .await;
    let db = placeholder.database.clone();
    drop(placeholder);
    let kamailio = Kamailio::start(KamailioAuth::Sqlite(db.into()))
        .await
        .unwrap();
    let service = serve(
        &env,
        &[
            "--sip-domain",
            DOMAIN,
            "--ws-uri",
            &kamailio.ws_uri,
            "--scim-token-file",
            &file,
            "--kamailio-rpc-url",
            &kamailio.rpc_url,
        ],
    )
    .await;
    let token = id_token_of("xia").await;
    let (status, creds) = provision(&service, &token).await;
    assert_eq!(status, 200, "{creds}");
    let password = creds["password"].as_str().unwrap().to_string();
    // Bob: SIPp's answering machine, callable as bob.
    let free_udp = || {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let bob_port = free_udp().to_string();
    let _bob = tokio::process::Command::new("sipp")
        .args([
            "-sn",
            "uas",
            "-i",
            "127.0.0.1",
            "-p",
            &bob_port,
            "-m",
            "1",
            "-nostdin",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    kamailio
        .add_contact("bob", &format!("sip:bob@127.0.0.1:{bob_port}"))
        .await
        .unwrap();
    // Xia calls Bob with her SIP password and waits for the BYE.
    let scenario = sipauth_testkit::testenv_dir()
        .join("sipp")
        .join("call-until-bye.xml");
    let caller_port = free_udp().to_string();
    let xia = tokio::process::Command::new("sipp")
        .arg(kamailio.udp.to_string())
        .arg("-sf")
        .arg(&scenario)
        .args(["-s", "bob", "-au", "xia", "-ap", &password])
        .args(["-key", "caller", "xia", "-key", "domain", DOMAIN])
        .args(["-i", "127.0.0.1", "-p", &caller_port, "-m", "1", "-nostdin"])
        .args(["-timeout", "40s", "-timeout_error"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..100 {
        if !kamailio.dialogs().await.is_empty() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the call is up: {}", kamailio.log());
    // The provider deactivates Xia: Kamailio ends her call (SIPp gets the BYE and exits 0).
    let (status, user) = scim(
        &service,
        reqwest::Method::POST,
        "/Users",
        Some(serde_json::json!({"userName": "xia@example.com", "externalId": "xia", "active": false})),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let out = tokio::time::timeout(Duration::from_secs(20), xia.wait_with_output())
        .await
        .expect("the call ended")
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(kamailio.dialogs().await.is_empty());
}

#[tokio::test]
async fn the_providers_directory_ends_registration_at_kamailio() {
    let env = Env::new("kam-scim");
    let file = scim_flag(&env);
    let (service, kamailio) = service_and_kamailio_with(&env, &["--scim-token-file", &file]).await;
    the_directory_governs_registration(&env, &service, &kamailio, "quinn").await;
}

#[tokio::test]
async fn an_ended_lease_is_refused_at_kamailio_and_the_next_provision_renews_it() {
    let env = Env::new("kam-lease");
    let (service, kamailio) = service_and_kamailio_with(&env, &["--credential-ttl", "2"]).await;
    let token = id_token_of("lia").await;
    let (status, first) = provision(&service, &token).await;
    assert_eq!(status, 200, "{first}");
    let expires_at = first["expiresAt"].as_i64().expect("expiresAt with a lease");
    let old = first["password"].as_str().unwrap().to_string();
    assert_eq!(check_ws(&env, &kamailio, "lia", &old, None).await.0, 0);
    // Past the lease (and the sweeper's quarter second): refused.
    let now = || {
        use sipauth::Clock;
        sipauth::SystemClock.now_unix()
    };
    while now() <= expires_at {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (code, doc) = check_ws(&env, &kamailio, "lia", &old, None).await;
    assert_eq!(
        (code, &doc["result"]["status"]),
        (9, &Value::from(403)),
        "{doc}"
    );
    // A provision with a valid token: a new password that registers; the old one stays dead.
    let (status, second) = provision(&service, &token).await;
    assert_eq!(status, 200, "{second}");
    let new = second["password"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(check_ws(&env, &kamailio, "lia", &new, None).await.0, 0);
    assert_eq!(check_ws(&env, &kamailio, "lia", &old, None).await.0, 9);
}

#[tokio::test]
async fn the_subscriber_table_in_postgresql_works_the_same() {
    let url = fresh_postgres("kam").await;
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
    drop(service);
    // The provider's directory governs registration on PostgreSQL too.
    let file = scim_flag(&env);
    let service = serve(
        &env,
        &[
            "--sip-domain",
            DOMAIN,
            "--ws-uri",
            &kamailio.ws_uri,
            "--database",
            &url,
            "--scim-token-file",
            &file,
        ],
    )
    .await;
    the_directory_governs_registration(&env, &service, &kamailio, "ray").await;
}

/// A fresh PostgreSQL database for one test: its URL.
pub(crate) async fn fresh_postgres(prefix: &str) -> String {
    let pg = std::env::var("SIPAUTH_TEST_POSTGRES_URL")
        .expect("SIPAUTH_TEST_POSTGRES_URL: run testenv/start.sh");
    let name = format!(
        "{prefix}_{}",
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
    match pg.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("{pg}"),
    }
}

/// JsSIP registers `user` over WebSocket: true on a 200.
async fn jssip_registers(kamailio: &Kamailio, user: &str, password: &str) -> bool {
    let config = serde_json::json!({
        "uri": format!("sip:{user}@{DOMAIN}"), "password": password,
        "sockets": [kamailio.ws_uri], "authorization_user": user
    });
    jssip_register(&config.to_string()).await.0 == 0
}

#[tokio::test]
async fn every_way_the_provider_ends_access_refuses_the_old_password_on_postgresql() {
    use sipauth::Clock;
    let env = Env::new("kam-every");
    let url = fresh_postgres("every").await;
    // An issuer of our own: tokens with and without MFA, and logout tokens.
    let issuer = sipauth_testkit::issuer::OwnIssuer::start().await.unwrap();
    let now = || sipauth::SystemClock.now_unix();
    let token = |sub: &str, acr: Option<&str>| {
        let extra = match acr {
            Some(acr) => serde_json::json!({ "acr": acr }),
            None => serde_json::json!({}),
        };
        issuer.id_token(sub, "web", now(), extra)
    };
    let web_secret = env.dir.join("web.secret");
    std::fs::write(&web_secret, "web-secret\n").unwrap();
    let scim_file = scim_flag(&env);
    let secret = crate::common::service::shared_secret(&env);
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--issuer",
            issuer.url(),
            "--audience",
            "web",
            "--sip-domain",
            DOMAIN,
            "--database",
            &url,
            "--secret-file",
            secret.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let placeholder = crate::common::service::spawn_service(
        &env,
        &args(&[]).iter().map(String::as_str).collect::<Vec<_>>(),
        url.clone(),
    )
    .await;
    drop(placeholder);
    let kamailio = Kamailio::start(KamailioAuth::Postgres(url.clone()))
        .await
        .unwrap();
    let full = args(&[
        "--ws-uri",
        &kamailio.ws_uri,
        "--web-client-id",
        "web",
        "--web-client-secret-file",
        web_secret.to_str().unwrap(),
        "--backchannel-logout",
        "disable",
        "--scim-token-file",
        &scim_file,
        "--credential-ttl",
        "3",
        "--required-acr",
        "mfa",
        "--kamailio-rpc-url",
        &kamailio.rpc_url,
    ]);
    let service = crate::common::service::spawn_service(
        &env,
        &full.iter().map(String::as_str).collect::<Vec<_>>(),
        url.clone(),
    )
    .await;
    let signed_in = |sub: &'static str| {
        let t = token(sub, Some("mfa"));
        let service = &service;
        async move {
            let (status, creds) = provision(service, &t).await;
            assert_eq!(status, 200, "{sub}: {creds}");
            creds["password"].as_str().unwrap().to_string()
        }
    };
    let refused = |user: &'static str, password: String| {
        let (env, kamailio) = (&env, &kamailio);
        async move {
            let (code, doc) = check_ws(env, kamailio, user, &password, None).await;
            assert_eq!(
                (code, &doc["result"]["status"]),
                (9, &Value::from(403)),
                "{user}: {doc}"
            );
            assert!(
                !jssip_registers(kamailio, user, &password).await,
                "{user}: JsSIP too"
            );
        }
    };

    // SCIM deactivation.
    let pw = signed_in("sam").await;
    assert!(
        jssip_registers(&kamailio, "sam", &pw).await,
        "{}",
        kamailio.log()
    );
    let (status, _) = scim(
        &service,
        reqwest::Method::POST,
        "/Users",
        Some(serde_json::json!({"userName": "sam@example.com", "externalId": "sam", "active": false})),
    )
    .await;
    assert_eq!(status, 201);
    refused("sam", pw).await;

    // Back-channel logout with `disable`; a sign-in after it registers again.
    let pw = signed_in("tia").await;
    assert!(jssip_registers(&kamailio, "tia", &pw).await);
    let logout = issuer.logout_token("tia", "web", now(), "j-tia");
    let answer = reqwest::Client::new()
        .post(format!("{}/backchannel-logout", service.base))
        .form(&[("logout_token", logout)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    refused("tia", pw.clone()).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = signed_in("tia").await;
    assert_ne!(again, pw);
    assert!(jssip_registers(&kamailio, "tia", &again).await);

    // The policy: a token without the required MFA refuses and disables.
    let pw = signed_in("uri").await;
    let (status, denied) = provision(&service, &token("uri", None)).await;
    assert_eq!(
        (status, denied["error"].as_str()),
        (403, Some("access_denied"))
    );
    refused("uri", pw).await;

    // A lease that ends; the next provision registers with a new password.
    let pw = signed_in("vex").await;
    tokio::time::sleep(Duration::from_millis(4200)).await;
    refused("vex", pw.clone()).await;
    let again = signed_in("vex").await;
    assert_ne!(again, pw);
    assert!(jssip_registers(&kamailio, "vex", &again).await);
}

#[tokio::test]
async fn credentials_register_over_tls_and_wss_with_the_servers_own_authority() {
    let env = Env::new("kam-tls");
    let certs = sipauth_testkit::certs::server_certificates(&env.dir.join("tls")).unwrap();
    let tls_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let defines = [
        format!("TLS_LISTEN=tls:127.0.0.1:{tls_port}"),
        format!("TLS_PORT={tls_port}"),
        format!("TLS_CERT=\"{}\"", certs.certificate.display()),
        format!("TLS_KEY=\"{}\"", certs.key.display()),
    ];
    let (service, kamailio) = service_and_kamailio_defines(&env, &[], &defines).await;
    login_with_api_strategy(&env, &service, "tia", DOMAIN, &[]).await;
    let ca = certs.ca.display().to_string();
    // SIP over TLS, the service's sipServer form, trusting the server's own authority.
    let sips = format!("sip:127.0.0.1:{tls_port};transport=tls");
    let (code, doc) = register_check(&env, &["--server", &sips, "--ca-file", &ca], None).await;
    assert_eq!(code, 0, "{doc}\n{}", kamailio.log());
    assert_eq!(doc["registered"], true);
    // WSS on the same port, as browsers connect.
    let wss = format!("wss://127.0.0.1:{tls_port}/");
    let (code, doc) = register_check(&env, &["--ws-uri", &wss, "--ca-file", &ca], None).await;
    assert_eq!(code, 0, "{doc}\n{}", kamailio.log());
    // Without that authority the certificate is not trusted: no registration, exit 6.
    let (code, doc) = register_check(&env, &["--server", &sips], None).await;
    assert_eq!(code, 6, "{doc}");
    assert!(
        doc["message"]
            .as_str()
            .unwrap_or_default()
            .contains("certificate")
            || doc.to_string().contains("certificate"),
        "{doc}"
    );
}

#[tokio::test]
async fn rejects_a_ca_file_that_holds_no_certificate() {
    let env = Env::new("kam-tls-bad-ca");
    let bad = env.dir.join("bad.pem");
    std::fs::write(&bad, "not a certificate\n").unwrap();
    let bad = bad.display().to_string();
    let (code, doc) = register_check(
        &env,
        &[
            "--server",
            "sip:127.0.0.1:9;transport=tls",
            "--username",
            "x",
            "--domain",
            DOMAIN,
            "--ca-file",
            &bad,
        ],
        Some("pw"),
    )
    .await;
    assert_eq!(code, 5, "{doc}");
    assert!(doc.to_string().contains("no PEM certificate"), "{doc}");
}
