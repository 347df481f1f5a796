//! The provider governs the SIP account, with the real oidc-provider and the real binary: a
//! person signed in on the web page logs out at the provider, the provider sends its logout
//! token to `/backchannel-logout` (Back-Channel Logout 1.0, its client registered at run time
//! by RFC 7591 with the service's URI), and the web session ends and, with `disable`, SIP
//! access with it until the next sign-in. With credential leases, `sipauth credentials`
//! provisions again when its credentials near their end.

use std::time::Duration;

use serde_json::{json, Value};
use sipauth_testkit::browser::Browser;
use sipauth_testkit::oidc_issuer;

use crate::common::service::{login_with_api_strategy, serve, spawn_service, Service};
use crate::common::Env;

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A free loopback port (the client's URIs must name it before the service starts).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Registers a web client for the service at `base` (RFC 7591): its id and secret.
pub(crate) async fn register_web_client(base: &str) -> (String, String) {
    let discovery: Value = http()
        .get(format!(
            "{}/.well-known/openid-configuration",
            oidc_issuer()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["backchannel_logout_supported"], true);
    let answer = http()
        .post(discovery["registration_endpoint"].as_str().unwrap())
        .json(&json!({
            "application_type": "native",
            "redirect_uris": [format!("{base}/auth/callback")],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "backchannel_logout_uri": format!("{base}/backchannel-logout"),
            "backchannel_logout_session_required": true
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let client: Value = answer.json().await.unwrap();
    (
        client["client_id"].as_str().unwrap().to_string(),
        client["client_secret"].as_str().unwrap().to_string(),
    )
}

/// `sipauth serve` on a free port with the web sign-in page, its client registered at the real
/// provider for that port (`extra`: more flags): the service, its base URL, the client id.
pub(crate) async fn serve_with_web_client(env: &Env, extra: &[&str]) -> (Service, String, String) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let (client_id, secret) = register_web_client(&base).await;
    let secret_file = env.dir.join("web.secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let listen = format!("127.0.0.1:{port}");
    let database = env.dir.join("server.db").display().to_string();
    let issuer = oidc_issuer();
    let secret_path = secret_file.display().to_string();
    let mut args = vec![
        "serve",
        "--listen",
        &listen,
        "--issuer",
        &issuer,
        "--audience",
        &client_id,
        "--web-client-id",
        &client_id,
        "--web-client-secret-file",
        &secret_path,
        "--database",
        &database,
    ];
    args.extend_from_slice(extra);
    let service = spawn_service(env, &args, database.clone()).await;
    (service, base, client_id)
}

/// The web page's sign-in in `browser` (its provider session kept there): the session cookie.
pub(crate) async fn web_sign_in(base: &str, browser: &Browser, login: &str) -> String {
    web_sign_in_across(base, base, base, browser, login).await
}

/// The web page's sign-in started at `start` (a service whose redirect URI is under `public`),
/// its callback taken to `finish` (another instance of that service, or the same): the session
/// cookie.
pub(crate) async fn web_sign_in_across(
    start: &str,
    public: &str,
    finish: &str,
    browser: &Browser,
    login: &str,
) -> String {
    let begun = http()
        .get(format!("{start}/auth/login/0"))
        .send()
        .await
        .unwrap();
    assert_eq!(begun.status(), 303);
    let flow = begun.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let authorize = begun.headers()["location"].to_str().unwrap().to_string();
    let callback = browser
        .sign_in(&authorize, login, &format!("{public}/auth/callback"))
        .await
        .unwrap();
    let callback = callback.replacen(public, finish, 1);
    let back = http()
        .get(&callback)
        .header("cookie", flow)
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 303, "{}", back.text().await.unwrap());
    back.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("sipauth_session="))
        .expect("a session cookie")
}

/// `GET /account` with the session cookie: the status and the page.
pub(crate) async fn account_page(base: &str, session: &str) -> (u16, String) {
    let answer = http()
        .get(format!("{base}/account"))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

async fn enabled(service: &Service, subject: &str) -> (i64, i64) {
    let db = sipauth_provision::Database::open(&service.database)
        .await
        .unwrap();
    let enabled: i64 = sqlx::query_scalar("SELECT enabled FROM sipauth_account WHERE subject = $1")
        .bind(subject.to_string())
        .fetch_one(db.pool())
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM subscriber s JOIN sipauth_account a ON a.username = s.username WHERE a.subject = $1",
    )
    .bind(subject.to_string())
    .fetch_one(db.pool())
    .await
    .unwrap();
    (enabled, rows)
}

#[tokio::test]
async fn a_logout_at_the_provider_ends_the_web_session_and_sip_access() {
    let env = Env::new("bcl-real");
    let (service, base, client_id) = serve_with_web_client(
        &env,
        &[
            "--backchannel-logout",
            "disable",
            "--sip-domain",
            "sip.example.com",
        ],
    )
    .await;
    assert!(
        service
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(&format!(
                "backchannel_logout_uri = {base}/backchannel-logout"
            ))),
        "the metadata to register is printed"
    );
    let browser = Browser::new().unwrap();
    let session = web_sign_in(&base, &browser, "wren").await;
    assert_eq!(account_page(&base, &session).await.0, 200);
    assert_eq!(enabled(&service, "wren").await, (1, 1));

    // Wren logs out at the provider: it tells the service before it answers.
    let discovery: Value = http()
        .get(format!(
            "{}/.well-known/openid-configuration",
            oidc_issuer()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let end = format!(
        "{}?client_id={client_id}",
        discovery["end_session_endpoint"].as_str().unwrap()
    );
    let status = browser.end_session(&end).await.unwrap();
    assert!(status < 400, "{status}");
    assert_ne!(
        account_page(&base, &session).await.0,
        200,
        "signed out; the service said: {}",
        service.log.lock().unwrap().join("\n")
    );
    assert_eq!(enabled(&service, "wren").await, (0, 0), "SIP access ended");

    // Signing in again (a token issued after the logout) restores access.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let session = web_sign_in(&base, &Browser::new().unwrap(), "wren").await;
    assert_eq!(account_page(&base, &session).await.0, 200);
    assert_eq!(enabled(&service, "wren").await, (1, 1));
}

#[tokio::test]
async fn the_command_provisions_again_when_its_leased_credentials_near_their_end() {
    let env = Env::new("lease-cli");
    let service = serve(&env, &["--credential-ttl", "4"]).await;
    let first = login_with_api_strategy(&env, &service, "vic", "sip.example.com", &[]).await;
    let expires_at = first["expiresAt"].as_i64().expect("a leased expiresAt");
    // Due at the end less half the lease: wait for it by the wall clock.
    let now = || {
        use sipauth::Clock;
        sipauth::SystemClock.now_unix()
    };
    while now() < expires_at - 2 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = env.run(&["credentials", "--json"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        second["expiresAt"].as_i64().unwrap() > expires_at,
        "a new lease: {second}"
    );
    assert_eq!(second["username"], first["username"]);
}
