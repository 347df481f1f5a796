//! A web app on sipauth serve, in real Chromium: from another origin the browser lets exactly
//! the configured origins read the API's answers (CORS), and an app served by the service
//! itself (`--static-dir`) calls the guide's relative `/api/sip/provision` with no CORS at all.

use sipauth_testkit::stub::{Canned, Stub};

use crate::common::node;
use crate::common::service::{id_token_of, serve};
use crate::common::Env;

const PAGE: &str = "<!doctype html><title>a softphone</title><p>app</p>";

async fn page_server() -> Stub {
    let stub = Stub::start().await.unwrap();
    stub.set("/", Canned::text(200, "text/html", PAGE));
    stub
}

#[tokio::test]
async fn only_the_allowed_origin_reads_the_apis_answer_in_a_real_browser() {
    let env = Env::new("web-cors");
    let allowed = page_server().await;
    let other = page_server().await;
    let service = serve(&env, &["--cors-allow-origin", &allowed.base]).await;
    let token = id_token_of("wendy").await;
    let api = format!("{}/api/sip/provision", service.base);
    let (code, doc) = node(
        "web-origins.mjs",
        &[
            &token,
            &format!("{}/", allowed.base),
            &api,
            &format!("{}/", other.base),
            &api,
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{doc}");
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results[0]["origin"], allowed.base.as_str());
    assert_eq!(results[0]["status"], 200, "{doc}");
    assert_eq!(results[0]["username"], "wendy");
    assert!(
        results[1]["blocked"]
            .as_str()
            .is_some_and(|b| b.contains("Failed to fetch")),
        "the browser blocks another origin: {doc}"
    );
}

#[tokio::test]
async fn an_app_served_beside_the_api_provisions_with_a_relative_endpoint() {
    let env = Env::new("web-same-origin");
    let dir = env.dir.join("app");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), PAGE).unwrap();
    let service = serve(&env, &["--static-dir", dir.to_str().unwrap()]).await;
    let token = id_token_of("sami").await;
    let (code, doc) = node(
        "web-origins.mjs",
        &[
            &token,
            &format!("{}/calls/42", service.base),
            "/api/sip/provision",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["results"][0]["status"], 200, "{doc}");
    assert_eq!(doc["results"][0]["username"], "sami");
}

/// The example Leptos app written for `sipauth serve --static-dir` (built beforehand by the
/// test command), provisioning through the service on its own origin.
fn example_app(env: &Env) -> std::path::PathBuf {
    let dir = env.dir.join("example-app");
    let out =
        std::process::Command::new(sipauth_testkit::testenv_dir().join("run-leptos-example.sh"))
            .args(["--issuer", &sipauth_testkit::oidc_issuer()])
            .args(["--client-id", sipauth_testkit::clients::PUBLIC])
            .args(["--api-endpoint", "/api/sip/provision"])
            .arg("--write-only")
            .arg(&dir)
            .env("SIPAUTH_LEPTOS_NO_BUILD", "1")
            .output()
            .unwrap();
    assert!(
        out.status.success(),
        "run-leptos-example.sh --write-only: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

#[tokio::test]
async fn two_people_call_each_other_from_the_example_app_through_kamailio() {
    let env = Env::new("web-call");
    let app = example_app(&env);
    let (service, kamailio) =
        crate::kamailio::service_and_kamailio_with(&env, &["--static-dir", app.to_str().unwrap()])
            .await;
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    let (code, seen) = node(
        "softphone-call.mjs",
        &[
            &format!("{}/", service.base),
            "carla",
            "dario",
            &artifacts.display().to_string(),
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{seen:#}\n{}", kamailio.log());
    let domain = crate::kamailio::DOMAIN;
    assert_eq!(seen["callerUri"], format!("sip:carla@{domain}"));
    assert_eq!(seen["calleeUri"], format!("sip:dario@{domain}"));
    assert_eq!(
        seen["registered"],
        serde_json::json!(["registered", "registered"])
    );
    assert_eq!(seen["statusText"], "Registered");
    assert_eq!(seen["incoming"], "incoming");
    assert_eq!(seen["inCall"], serde_json::json!(["in_call", "in_call"]));
    for side in ["callerStats", "calleeStats"] {
        assert!(
            seen[side]["received"].as_u64().unwrap_or(0) > 20,
            "{side}: RTP received: {seen:#}"
        );
    }
    assert!(seen["ended"][0].as_str().unwrap().starts_with("ended:"));
    assert!(seen["ended"][1].as_str().unwrap().starts_with("ended:"));
    assert_eq!(seen["idle"], serde_json::json!([true, true]));
    assert_eq!(seen["afterSignOut"], serde_json::json!([]));
    assert_eq!(seen["pageErrors"], serde_json::json!([]));
    // Signed out: the credentials the caller's browser held no longer register.
    let kept = &seen["kept"];
    let password = kept["password"].as_str().unwrap();
    let (code, doc) = crate::kamailio::register_check(
        &env,
        &[
            "--ws-uri",
            &kamailio.ws_uri,
            "--username",
            "carla",
            "--domain",
            domain,
        ],
        Some(password),
    )
    .await;
    assert_eq!(code, 9, "refused after signing out: {doc}");
}
