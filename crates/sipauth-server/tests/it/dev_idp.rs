//! The development identity provider is strict like a real one: exact redirect URIs (any port
//! only for loopback redirects of the native client), PKCE S256 only, single-use codes bound to
//! their client, redirect URI and verifier, and `iss` in every callback. Served by the real
//! accept loop on a free loopback port.

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use sipauth::{HttpClient, SystemClock};
use sipauth_server::{app, DevConfig, ServiceConfig};

/// A running service with the development provider on (as `sipauth serve --dev` sets it): its
/// base URL.
async fn dev_service() -> String {
    dev_service_with_db().await.0
}

/// A running service with the development provider on: its base URL and its database.
async fn dev_service_with_db() -> (String, sipauth_provision::Database) {
    dev_service_with(|_| {}).await
}

/// The same, with settings changed first.
pub(super) async fn dev_service_with(
    change: impl FnOnce(&mut ServiceConfig),
) -> (String, sipauth_provision::Database) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir = std::env::temp_dir().join(format!(
        "sipauth-devidp-{}-{}",
        std::process::id(),
        sipauth::random_urlsafe(4).unwrap()
    ));
    let mut config = ServiceConfig {
        dev: Some(DevConfig {
            users: vec!["carol".into()],
            ..DevConfig::default()
        }),
        ..ServiceConfig::default()
    };
    change(&mut config);
    let state = config
        .state(
            &dir,
            &HttpClient::new().unwrap(),
            Arc::new(SystemClock),
            &base,
        )
        .await
        .unwrap();
    let db = state.provisioner.database().clone();
    tokio::spawn(sipauth_server::serve(
        listener,
        app(state),
        std::future::pending(),
        std::time::Duration::from_secs(5),
    ));
    (base, db)
}

pub(super) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(super) const VERIFIER: &str = "a-verifier-of-at-least-forty-three-characters-long-000";

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
}

fn authorize_url(base: &str, redirect: &str, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&format!("{base}/dev-idp/authorize")).unwrap();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", "sipauth-dev")
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", "openid email")
            .append_pair("state", "s1");
        for (k, v) in extra {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

/// Carol continues on the provider's login page at `authorize`: where it redirects her.
async fn continue_as_carol(base: &str, authorize: &str) -> String {
    let page = http()
        .get(authorize)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Continue as Carol"), "{page}");
    assert!(
        page.contains("not for production"),
        "the page says what it is"
    );
    let request = page
        .split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    let answer = http()
        .post(format!("{base}/dev-idp/login"))
        .form(&[("request", request), ("user", "carol")])
        .send()
        .await
        .unwrap();
    answer.headers()["location"].to_str().unwrap().to_string()
}

/// Signs carol in: the callback URL's parameters.
pub(super) async fn code_for(base: &str, redirect: &str) -> HashMap<String, String> {
    let url = authorize_url(
        base,
        redirect,
        &[
            ("code_challenge", &challenge()),
            ("code_challenge_method", "S256"),
        ],
    );
    let location = continue_as_carol(base, &url).await;
    url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) async fn exchange(
    base: &str,
    code: &str,
    redirect: &str,
    verifier: &str,
) -> (u16, serde_json::Value) {
    let answer = http()
        .post(format!("{base}/dev-idp/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "sipauth-dev"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.json().await.unwrap())
}

#[tokio::test]
async fn a_loopback_redirect_on_any_port_gets_a_single_use_code_with_iss() {
    let base = dev_service().await;
    let redirect = "http://127.0.0.1:53123/callback";
    let params = code_for(&base, redirect).await;
    assert_eq!(params["state"], "s1");
    assert_eq!(params["iss"], format!("{base}/dev-idp"), "RFC 9207");
    let code = &params["code"];
    let (status, tokens) = exchange(&base, code, redirect, VERIFIER).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["id_token"].is_string() && tokens["access_token"].is_string());
    assert!(
        tokens.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );
    // The same code again: refused.
    let (status, again) = exchange(&base, code, redirect, VERIFIER).await;
    assert_eq!(status, 400);
    assert_eq!(again["error"], "invalid_grant");
}

#[tokio::test]
async fn rejects_codes_with_a_wrong_verifier_or_redirect() {
    let base = dev_service().await;
    let redirect = "http://127.0.0.1:40000/callback";
    let params = code_for(&base, redirect).await;
    let (status, e) = exchange(
        &base,
        &params["code"],
        redirect,
        "wrong-verifier-wrong-verifier-wrong-verifier",
    )
    .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    // The code was spent by the failed attempt too.
    let (status, _) = exchange(&base, &params["code"], redirect, VERIFIER).await;
    assert_eq!(status, 400);
    let params = code_for(&base, redirect).await;
    let (status, e) = exchange(
        &base,
        &params["code"],
        "http://127.0.0.1:40001/callback",
        VERIFIER,
    )
    .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn rejects_unregistered_redirects_without_redirecting_to_them() {
    let base = dev_service().await;
    for redirect in [
        "https://evil.example/callback",
        "http://127.0.0.1:5000/other-path",
        "http://127.0.0.1.evil.example/callback",
        "http://127.0.0.1:5000/callback?x=1",
    ] {
        let url = authorize_url(
            &base,
            redirect,
            &[
                ("code_challenge", &challenge()),
                ("code_challenge_method", "S256"),
            ],
        );
        let answer = http().get(&url).send().await.unwrap();
        assert_eq!(answer.status(), 400, "{redirect}");
        assert!(answer.headers().get("location").is_none(), "{redirect}");
    }
}

#[tokio::test]
async fn rejects_requests_without_pkce_s256_by_redirecting_an_error() {
    let base = dev_service().await;
    let redirect = "http://127.0.0.1:5000/callback";
    for extra in [
        vec![],
        vec![
            ("code_challenge", challenge()),
            ("code_challenge_method", "plain".to_string()),
        ],
    ] {
        let pairs: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = http()
            .get(authorize_url(&base, redirect, &pairs))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 303);
        let location = answer.headers()["location"].to_str().unwrap();
        assert!(location.starts_with(redirect), "{location}");
        assert!(location.contains("error=invalid_request"), "{location}");
        assert!(
            location.contains("state=s1") && location.contains("iss="),
            "{location}"
        );
    }
}

/// The web page's sign-in through the development provider, up to the callback: the callback
/// URL and the flow cookie that binds it to this browser.
pub(super) async fn web_sign_in_until_callback(base: &str) -> (String, String) {
    let start = http()
        .get(format!("{base}/auth/login/0"))
        .send()
        .await
        .unwrap();
    let flow_cookie = start.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let authorize = start.headers()["location"].to_str().unwrap().to_string();
    (continue_as_carol(base, &authorize).await, flow_cookie)
}

/// The browser arrives at the page's callback with its flow cookie.
pub(super) async fn deliver_callback(callback: &str, cookie: String) -> reqwest::Response {
    http()
        .get(callback)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_web_sign_in_signs_in_with_the_verified_identity() {
    let (base, db) = dev_service_with_db().await;
    let (callback, cookie) = web_sign_in_until_callback(&base).await;
    let answer = deliver_callback(&callback, cookie).await;
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/account");
    // Audited with the client's address, like the API.
    let ip: Option<String> = sqlx::query_scalar(
        "SELECT client_ip FROM sipauth_audit WHERE action = 'provision' AND outcome = 'ok'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn rejects_web_sign_ins_from_outside_the_allowlist_or_over_the_rate() {
    let (walled, _) = dev_service_with(|c| {
        c.network.allowed_networks = vec!["10.0.0.0/8".into()];
    })
    .await;
    let answer = http()
        .get(format!("{walled}/auth/login/0"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    let (limited, _) = dev_service_with(|c| c.limits.per_ip_per_minute = Some(2)).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let answer = http()
            .get(format!("{limited}/auth/login/0"))
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(statuses, [303, 303, 429]);
}

#[tokio::test]
async fn rejects_a_web_sign_in_during_a_database_outage_as_unavailable_not_forbidden() {
    let (base, db) = dev_service_with_db().await;
    let (callback, cookie) = web_sign_in_until_callback(&base).await;
    // The database fails under the service (as when PostgreSQL goes away mid-request).
    sqlx::query("DROP TABLE sipauth_account")
        .execute(db.pool())
        .await
        .unwrap();
    let answer = deliver_callback(&callback, cookie).await;
    // The API's answer for the same failure: 503, temporarily_unavailable, not "forbidden".
    assert_eq!(answer.status(), 503);
    let page = answer.text().await.unwrap();
    assert!(page.contains("temporarily_unavailable"), "{page}");
    assert!(!page.contains("You do not have SIP access"), "{page}");
}

#[test]
fn rejects_turning_the_provider_on_from_the_config_file() {
    let e = ServiceConfig::from_toml("[dev]\nusers = [\"carol\"]\n").unwrap_err();
    assert!(e.0.contains("--dev"), "{e}");
}

#[tokio::test]
async fn rejects_a_flood_of_pending_sign_ins_past_its_bound() {
    let base = dev_service().await;
    let redirect = "http://127.0.0.1:4242/callback";
    let url = authorize_url(
        &base,
        redirect,
        &[
            ("code_challenge", &challenge()),
            ("code_challenge_method", "S256"),
        ],
    );
    let client = http();
    let mut last = reqwest::StatusCode::OK;
    for _ in 0..10_001 {
        last = client.get(&url).send().await.unwrap().status();
        if last != reqwest::StatusCode::OK {
            break;
        }
    }
    assert_eq!(last, reqwest::StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn rejects_a_flood_of_web_sign_ins_past_the_pending_bound() {
    let base = dev_service().await;
    let client = http();
    let url = format!("{base}/auth/login/0");
    let mut answered = 0;
    let mut last = None;
    for _ in 0..=sipauth::DEFAULT_MAX_PENDING_SIGN_INS {
        let answer = client.get(&url).send().await.unwrap();
        answered += 1;
        if answer.status() != 303 {
            last = Some((answer.status(), answer.text().await.unwrap()));
            break;
        }
    }
    let (status, page) = last.expect("the flood was never refused");
    assert_eq!(status, 503);
    assert!(page.contains("temporarily_unavailable"), "{page}");
    assert_eq!(answered, sipauth::DEFAULT_MAX_PENDING_SIGN_INS + 1);
}

#[tokio::test]
async fn rejects_framing_and_foreign_scripts_on_the_web_page() {
    let base = dev_service().await;
    let answer = http().get(format!("{base}/")).send().await.unwrap();
    let headers = answer.headers().clone();
    let policy = headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    // The page's own inline style is allowed by its hash, and nothing else inline.
    let page = answer.text().await.unwrap();
    let style = page
        .split("<style>")
        .nth(1)
        .and_then(|s| s.split("</style>").next())
        .unwrap();
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(style.as_bytes()));
    assert!(
        policy.contains(&format!("style-src 'sha256-{hash}'")),
        "{policy}"
    );
    assert!(!policy.contains("unsafe-inline"), "{policy}");
}

/// Schemathesis from `testenv/install.sh` (PyPI, pinned in `testenv/schemathesis`).
fn schemathesis() -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testenv/schemathesis/venv/bin/schemathesis");
    assert!(
        path.exists(),
        "{} is missing: run testenv/install.sh",
        path.display()
    );
    path
}

/// Schemathesis against the running service's own `/openapi.json`, every check, with these
/// extra arguments; its report when it fails.
async fn fuzz_the_api(base: &str, extra: &[&str]) {
    let mut command = std::process::Command::new(schemathesis());
    command
        .current_dir(std::env::temp_dir())
        .args([
            "run",
            &format!("{base}/openapi.json"),
            "--checks",
            "all",
            "--max-examples",
            "100",
            "--workers",
            "2",
            "--seed",
            "20261203",
            "--generation-database",
            "none",
            "--no-color",
        ])
        .args(extra);
    // Off the runtime: the service under test runs on it.
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_api_holds_to_its_openapi_document_under_a_property_based_fuzzer() {
    let base = dev_service().await;
    // Without credentials: every operation must answer as documented (401s included).
    fuzz_the_api(&base, &[]).await;
    // With a real access token from a real sign-in at the development provider.
    let redirect = "http://127.0.0.1:41414/callback";
    let params = code_for(&base, redirect).await;
    let (status, tokens) = exchange(&base, &params["code"], redirect, VERIFIER).await;
    assert_eq!(status, 200, "{tokens}");
    let token = tokens["access_token"].as_str().unwrap();
    fuzz_the_api(
        &base,
        &["--header", &format!("Authorization: Bearer {token}")],
    )
    .await;
}
