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
