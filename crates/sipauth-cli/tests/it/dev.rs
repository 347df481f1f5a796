//! `sipauth serve --dev` as the real binary: the development identity provider passes a
//! certified relying party (openid-client 6), the web sign-in page works in real Chromium
//! (playwright-core) by keyboard through the development provider and with oidc-provider as an
//! external provider, cancelling and tampering end on friendly pages without a session, and
//! `sipauth login` against the development issuer gets credentials from the service.
//! Screenshots land in `target/test-artifacts/`.

use sipauth_testkit::{clients, oidc_issuer};

use crate::common::service::{spawn_service, Service};
use crate::common::{finish_login, node, start_login, Env};

async fn serve_dev(env: &Env, extra: &[&str]) -> Service {
    let data = env.dir.join("data").display().to_string();
    let db = env.dir.join("data").join("server.db").display().to_string();
    let mut args = vec!["serve", "--dev", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let service = spawn_service(env, &args, db).await;
    assert!(
        service
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("DEVELOPMENT")),
        "--dev says so loudly (data in {data})"
    );
    service
}

fn artifacts() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn the_development_provider_satisfies_a_certified_relying_party() {
    let env = Env::new("dev-rp");
    let service = serve_dev(&env, &[]).await;
    let issuer = format!("{}/dev-idp", service.base);
    let (code, doc) = node(
        "rp-check.mjs",
        &[&issuer, "http://127.0.0.1:9999/callback"],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["sub"], "alice");
    assert_eq!(doc["nonce"], true);
    assert_eq!(doc["rotated"], true);
    assert_eq!(doc["reuse"], "invalid_grant");
}

#[tokio::test]
async fn the_web_page_signs_in_by_keyboard_through_the_development_provider() {
    let env = Env::new("dev-web");
    let service = serve_dev(&env, &[]).await;
    let dir = artifacts().display().to_string();
    let (code, doc) = node("browser-signin.mjs", &[&service.base, "dev", &dir], &[]).await;
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["sipUri"], "sip:alice@localhost");
    assert_eq!(doc["jssipUri"], doc["sipUri"]);
    assert_eq!(doc["cookie"]["httpOnly"], true);
    assert_eq!(doc["cookie"]["sameSite"], "Lax");
    assert_eq!(doc["afterSignOut"], "/", "a copied cookie stops working");
}

#[tokio::test]
async fn rejects_a_cancelled_sign_in_with_a_friendly_page_and_no_session() {
    let env = Env::new("dev-cancel");
    let service = serve_dev(&env, &[]).await;
    let dir = artifacts().display().to_string();
    let (code, doc) = node("browser-signin.mjs", &[&service.base, "cancel", &dir], &[]).await;
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["heading"], "You cancelled the sign-in");
    assert_eq!(doc["sessionCookie"], false);
}

#[tokio::test]
async fn rejects_a_tampered_or_foreign_state_with_400_and_no_session() {
    let env = Env::new("dev-tamper");
    let service = serve_dev(&env, &[]).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let start = http
        .get(format!("{}/auth/login/0", service.base))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303);
    let flow_cookie = start
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let location = start.headers()["location"].to_str().unwrap().to_string();
    let state = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    for (what, state, cookie) in [
        ("tampered state", format!("{state}x"), flow_cookie.clone()),
        (
            "another browser's sign-in",
            state.clone(),
            "sipauth_flow=someone-else".to_string(),
        ),
    ] {
        let answer = http
            .get(format!(
                "{}/auth/callback?code=abc&state={state}&iss=x",
                service.base
            ))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{what}");
        let cookies: Vec<String> = answer
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert!(
            !cookies.iter().any(|c| c.starts_with("sipauth_session=")),
            "{what}: {cookies:?}"
        );
        let page = answer.text().await.unwrap();
        assert!(
            page.contains("This sign-in link expired, start again"),
            "{what}"
        );
    }
}

#[tokio::test]
async fn the_web_page_signs_in_with_oidc_provider_as_an_external_provider() {
    let env = Env::new("dev-oidc");
    let secret = env.dir.join("web.secret");
    std::fs::write(&secret, format!("{}\n", clients::CONFIDENTIAL_BASIC_SECRET)).unwrap();
    let issuer = oidc_issuer();
    let service = crate::common::service::serve(
        &env,
        &[
            "--web-client-id",
            clients::CONFIDENTIAL_BASIC,
            "--web-client-secret-file",
            secret.to_str().unwrap(),
        ],
    )
    .await;
    let _ = issuer;
    let dir = artifacts().display().to_string();
    let (code, doc) = node(
        "browser-signin.mjs",
        &[&service.base, "oidc-provider", &dir],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["sipUri"], "sip:olivia@sip.example.com");
}

#[tokio::test]
async fn sipauth_login_against_the_development_issuer_gets_credentials_from_the_service() {
    let env = Env::new("dev-login");
    let service = serve_dev(&env, &[]).await;
    let issuer = format!("{}/dev-idp", service.base);
    let endpoint = format!("{}/api/sip/provision", service.base);
    let client_env = Env::new("dev-login-client");
    let (child, url, rest) = start_login(
        &client_env,
        &[
            "--json",
            "--issuer",
            &issuer,
            "--client-id",
            "sipauth-dev",
            "--password-strategy",
            "api",
            "--api-endpoint",
            &endpoint,
        ],
    )
    .await;
    // Play the browser at the development provider: its login page has a button per user.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(&url).send().await.unwrap().text().await.unwrap();
    let request = page
        .split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the login page's request id");
    let login = http
        .post(format!("{issuer}/login"))
        .form(&[("request", request), ("user", "bob")])
        .send()
        .await
        .unwrap();
    let callback = login.headers()["location"].to_str().unwrap().to_string();
    let creds = finish_login(child, rest, &callback).await;
    assert_eq!(creds["username"], "bob", "{creds}");
    assert_eq!(creds["displayName"], "Bob");
    // The service holds bob's account: its password is the one the command printed.
    let db = sipauth_provision::Database::open(&service.database)
        .await
        .unwrap();
    let (ha1,): (String,) = sqlx::query_as("SELECT ha1 FROM subscriber WHERE username = 'bob'")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(
        ha1,
        sipauth_provision::ha1("bob", "localhost", creds["password"].as_str().unwrap())
    );
}

#[tokio::test]
async fn rejects_the_development_provider_on_a_public_address_without_dev_public() {
    let env = Env::new("dev-public");
    let out = env.run(&["serve", "--dev", "--listen", "0.0.0.0:0"]).await;
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--dev-public"), "{err}");
    // Nor from a config file alone.
    let path = env.dir.join("server.toml");
    std::fs::write(&path, "[dev]\nusers = [\"mallory\"]\n").unwrap();
    let out = env
        .run(&[
            "serve",
            "--config",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .await;
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dev"));
}

#[tokio::test]
async fn the_main_job_reaches_registered_with_kamailio_and_says_when_none_answers() {
    let dir = artifacts().display().to_string();
    // Without a SIP server: the page says none answers, and how to start one.
    let env = Env::new("dev-check-none");
    let service = serve_dev(&env, &[]).await;
    let (code, doc) = node(
        "check-registration.mjs",
        &[&service.base, "none", &dir],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["outcome"], "unreachable", "{doc}");
    let text = doc["text"].as_str().unwrap();
    assert!(
        text.contains("No SIP server answers at ws://127.0.0.1:8088/ws"),
        "{text}"
    );
    assert!(text.contains("--with-kamailio"), "{text}");
    drop(service);
    // With --with-kamailio: the tested Kamailio reads the development database; registered.
    let env = Env::new("dev-check-kamailio");
    let service = serve_dev(&env, &["--with-kamailio"]).await;
    let (code, doc) = node(
        "check-registration.mjs",
        &[&service.base, "kamailio", &dir],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["outcome"], "registered", "{doc}");
    let kamailio_log = env.dir.join("data").join("kamailio").join("kamailio.log");
    assert!(kamailio_log.exists());
    // Stopped with the service: its port closes.
    let ws = service
        .log
        .lock()
        .unwrap()
        .iter()
        .find_map(|l| {
            l.split("ws://127.0.0.1:")
                .nth(1)
                .and_then(|r| r.split('/').next())
                .map(str::to_string)
        })
        .expect("the service names its Kamailio");
    let mut service = service;
    service.stop().await;
    let mut closed = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(format!("127.0.0.1:{ws}"))
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(closed, "Kamailio stops with the service");
}
