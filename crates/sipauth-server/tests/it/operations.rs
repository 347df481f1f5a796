//! The service as operators run it: built from a TOML [`ServiceConfig`] (several issuers: the
//! real oidc-provider and a second issuer with keys of our own), with its network policy,
//! rate limits, header limits, `/metrics`, `/openapi.json`, and what happens when the database
//! fails in the middle of a provision.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::{json, Value};
use sipauth::{HttpClient, SystemClock};
use sipauth_server::{app, AppState, ServiceConfig};
use sipauth_testkit::keys::TestKey;
use sipauth_testkit::stub::{Canned, Stub};
use sipauth_testkit::{clients, oidc_issuer};
use tower::ServiceExt;

const REDIRECT: &str = "http://127.0.0.1:5567/callback";

async fn id_token_of(login: &str) -> String {
    sipauth_testkit::signin::tokens_of(&oidc_issuer(), clients::PUBLIC, login, REDIRECT)
        .await
        .id_token
}

/// A second issuer: a loopback stub publishing discovery and the key set of `key`.
async fn second_issuer(key: &TestKey) -> Stub {
    let stub = Stub::start().await.unwrap();
    stub.serve_discovery(json!({}));
    stub.set("/jwks", Canned::json(200, TestKey::jwks(&[key])));
    stub
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "sipauth-ops-{name}-{}-{}",
        std::process::id(),
        sipauth::random_urlsafe(4).unwrap()
    ))
}

/// The state `sipauth serve --config` would run, from `extra` TOML after the two issuers.
async fn state(name: &str, second: &Stub, extra: &str) -> AppState {
    state_with(name, second, "", extra).await
}

/// The same, with `top` TOML before the first table (top-level settings).
async fn state_with(name: &str, second: &Stub, top: &str, extra: &str) -> AppState {
    let text = format!(
        r#"
{top}
[[issuer]]
url = "{}"
audiences = ["{}"]

[[issuer]]
url = "{}"
audiences = ["second-app"]

[sip]
domain = "sip.example.com"
ws_uri = "wss://sip.example.com/ws"
{extra}
"#,
        oidc_issuer(),
        clients::PUBLIC,
        second.base
    );
    let config = ServiceConfig::from_toml(&text).unwrap();
    let http = HttpClient::new().unwrap();
    config
        .state(
            &temp_dir(name),
            &http,
            Arc::new(SystemClock),
            "http://127.0.0.1:9",
        )
        .await
        .unwrap()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).expect("a JSON answer")
    }
}

async fn send(state: &AppState, request: Request<Body>) -> Answer {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        text: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// `POST /api/sip/provision` from `peer`, with `token` and extra headers.
fn provision(token: &str, peer: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::builder()
        .method("POST")
        .uri("/api/sip/provision")
        .header("authorization", format!("Bearer {token}"));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut request = request.body(Body::empty()).unwrap();
    let peer: SocketAddr = peer.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

fn get(uri: &str) -> Request<Body> {
    Request::builder().uri(uri).body(Body::empty()).unwrap()
}

fn token_of_second(key: &TestKey, stub: &Stub, sub: &str, email: &str) -> String {
    let now = sipauth::Clock::now_unix(&SystemClock);
    key.sign(&json!({
        "iss": stub.base, "sub": sub, "aud": "second-app", "iat": now, "exp": now + 600,
        "email": email, "email_verified": true, "name": "Second Person"
    }))
}

#[tokio::test]
async fn two_configured_issuers_each_provision_their_own_people() {
    let key = TestKey::generate("second-key");
    let second = second_issuer(&key).await;
    let state = state("two-issuers", &second, "").await;
    let alice = send(
        &state,
        provision(&id_token_of("alice").await, "127.0.0.1:1", &[]),
    )
    .await;
    assert_eq!(alice.status, StatusCode::OK, "{}", alice.text);
    // The same email local part at the other issuer is another person, another account.
    let token = token_of_second(&key, &second, "s-1", "alice@second.example");
    let other = send(&state, provision(&token, "127.0.0.1:1", &[])).await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
    assert_eq!(alice.json()["username"], "alice");
    assert!(other.json()["username"]
        .as_str()
        .unwrap()
        .starts_with("alice-"));
    assert_eq!(other.json()["displayName"], "Second Person");
    // A token of the second issuer for the first issuer's audience is refused.
    let now = sipauth::Clock::now_unix(&SystemClock);
    let wrong_aud = key.sign(&json!({ "iss": second.base, "sub": "s-2", "aud": clients::PUBLIC, "iat": now, "exp": now + 600 }));
    let refused = send(&state, provision(&wrong_aud, "127.0.0.1:1", &[])).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
}

#[tokio::test]
async fn rejects_clients_outside_the_allowlist_and_believes_only_trusted_proxies() {
    let key = TestKey::generate("k");
    let second = second_issuer(&key).await;
    let state = state(
        "network",
        &second,
        "[network]\nallowed_networks = [\"10.0.0.0/8\"]\ntrusted_proxies = [\"127.0.0.1\"]\n",
    )
    .await;
    let token = token_of_second(&key, &second, "n-1", "nina@example.com");
    // Straight from a client outside the allowlist.
    let outside = send(&state, provision(&token, "192.0.2.7:4000", &[])).await;
    assert_eq!(outside.status, StatusCode::FORBIDDEN, "{}", outside.text);
    assert_eq!(outside.json()["error"], "access_denied");
    // A client outside claiming to be inside: its own header is not believed.
    let lying = send(
        &state,
        provision(&token, "192.0.2.7:4000", &[("x-forwarded-for", "10.9.9.9")]),
    )
    .await;
    assert_eq!(lying.status, StatusCode::FORBIDDEN);
    // Through the trusted proxy, from inside: allowed, and audited with the real client.
    let proxied = send(
        &state,
        provision(
            &token,
            "127.0.0.1:4000",
            &[("x-forwarded-for", "6.6.6.6, 10.1.2.3")],
        ),
    )
    .await;
    assert_eq!(proxied.status, StatusCode::OK, "{}", proxied.text);
    let audit = state.provisioner.audit_log(0).await.unwrap();
    let last = audit.last().unwrap();
    assert_eq!(last.outcome, "ok");
    assert_eq!(last.client_ip.as_deref(), Some("10.1.2.3"));
}

#[tokio::test]
async fn rejects_requests_over_the_rate_limits_with_429_and_retry_after() {
    let key = TestKey::generate("k");
    let second = second_issuer(&key).await;
    let state = state(
        "limits",
        &second,
        "[limits]\nper_ip_per_minute = 3\nper_identity_per_minute = 2\n",
    )
    .await;
    let rita = token_of_second(&key, &second, "r-1", "rita@example.com");
    // Per identity: two provisions of rita a minute, whatever the address.
    for peer in ["192.0.2.1:1", "192.0.2.2:1"] {
        assert_eq!(
            send(&state, provision(&rita, peer, &[])).await.status,
            StatusCode::OK
        );
    }
    let third = send(&state, provision(&rita, "192.0.2.3:1", &[])).await;
    assert_eq!(
        third.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        third.text
    );
    assert_eq!(third.json()["error"], "rate_limited");
    let retry: u64 = third.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Per address: 192.0.2.9 gets three requests a minute, whoever sends them.
    for i in 0..3 {
        let someone = token_of_second(
            &key,
            &second,
            &format!("p-{i}"),
            &format!("p{i}@example.com"),
        );
        let a = send(&state, provision(&someone, "192.0.2.9:1", &[])).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    }
    let sam = token_of_second(&key, &second, "r-2", "sam@example.com");
    let over = send(&state, provision(&sam, "192.0.2.9:1", &[])).await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(over.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn rejects_oversized_headers_as_json() {
    let key = TestKey::generate("k");
    let second = second_issuer(&key).await;
    let state = state("headers", &second, "").await;
    let big = "x".repeat(20 * 1024);
    let a = send(
        &state,
        provision("t", "127.0.0.1:1", &[("x-padding", &big)]),
    )
    .await;
    assert_eq!(a.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(a.json()["error"], "invalid_request");
    let long_token = "a".repeat(17 * 1024);
    let b = send(&state, provision(&long_token, "127.0.0.1:1", &[])).await;
    assert!(
        b.status == StatusCode::UNAUTHORIZED
            || b.status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "{}",
        b.status
    );
}

#[tokio::test]
async fn metrics_count_requests_refusals_and_key_fetches() {
    let key = TestKey::generate("k");
    let second = second_issuer(&key).await;
    let state = state("metrics", &second, "").await;
    let token = token_of_second(&key, &second, "m-1", "mia@example.com");
    assert_eq!(
        send(&state, provision(&token, "127.0.0.1:1", &[]))
            .await
            .status,
        StatusCode::OK
    );
    let forged = TestKey::generate("k").sign(&json!({ "iss": second.base, "sub": "x", "aud": "second-app", "iat": 1, "exp": 4_000_000_000_i64 }));
    assert_eq!(
        send(&state, provision(&forged, "127.0.0.1:1", &[]))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    send(&state, get("/no/such/path")).await;
    let m = send(&state, get("/metrics")).await;
    assert_eq!(m.status, StatusCode::OK);
    let text = &m.text;
    for want in [
        r#"sipauth_http_requests_total{route="/api/sip/provision",method="POST",status="200"} 1"#,
        r#"sipauth_http_requests_total{route="/api/sip/provision",method="POST",status="401"} 1"#,
        r#"sipauth_http_requests_total{route="unmatched",method="GET",status="404"} 1"#,
        r#"sipauth_token_verification_failures_total{reason="invalid_signature"} 1"#,
        r#"sipauth_provisions_total{outcome="ok"} 1"#,
        "sipauth_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(want), "missing {want} in\n{text}");
    }
    assert!(
        text.contains(&format!(
            "sipauth_jwks_fetches_total{{issuer=\"{}\"}} 1",
            second.base
        )),
        "{text}"
    );
    assert!(!text.contains(&token[..40]), "no token text in metrics");
}

#[tokio::test]
async fn rejects_made_up_methods_as_metric_labels() {
    // No credentials needed to send them: each would be a label kept for ever.
    let key = TestKey::generate("k");
    let second = second_issuer(&key).await;
    let state = state("metric-methods", &second, "").await;
    for n in 0..50 {
        let request = Request::builder()
            .method(format!("XXXX{n}").as_str())
            .uri("/healthz")
            .body(Body::empty())
            .unwrap();
        send(&state, request).await;
    }
    let text = send(&state, get("/metrics")).await.text;
    assert!(!text.contains("XXXX"), "{text}");
    assert!(
        text.contains(
            r#"sipauth_http_requests_total{route="/healthz",method="other",status="405"} 50"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_field_the_api_answers() {
    let key = TestKey::generate("k");
    let second = second_issuer(&key).await;
    let state = state("openapi", &second, "").await;
    let doc = send(&state, get("/openapi.json")).await.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let provision_path = &doc["paths"]["/api/sip/provision"];
    for method in ["get", "post", "delete"] {
        assert!(provision_path[method].is_object(), "{method}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    // Every key of a real answer is in the schema.
    let token = token_of_second(&key, &second, "o-1", "olga@example.com");
    let answer = send(&state, provision(&token, "127.0.0.1:1", &[]))
        .await
        .json();
    let properties = &doc["components"]["schemas"]["ProvisionResponse"]["properties"];
    for key in answer.as_object().unwrap().keys() {
        assert!(properties[key].is_object(), "{key} is not documented");
    }
    let error_props = &doc["components"]["schemas"]["ApiError"]["properties"];
    assert!(error_props["error"].is_object() && error_props["error_description"].is_object());
    // `/metrics` answers the content type its document declares.
    let metrics = send(&state, get("/metrics")).await;
    let served = metrics.headers["content-type"].to_str().unwrap();
    let declared = &doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"];
    assert!(declared[served].is_object(), "{served} not in {declared}");
}

#[tokio::test]
async fn rejects_a_provision_the_database_fails_midway_with_503_and_no_partial_rows() {
    let key = TestKey::generate("k");
    let second = second_issuer(&key).await;
    let state = state("db-fails", &second, "").await;
    // The account row goes in first; the subscriber row then fails: the whole provision must
    // roll back.
    let pool = state.provisioner.database().pool().clone();
    sqlx::query("CREATE TRIGGER refuse BEFORE INSERT ON subscriber BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
        .execute(&pool)
        .await
        .unwrap();
    let token = token_of_second(&key, &second, "d-1", "dora@example.com");
    let a = send(&state, provision(&token, "127.0.0.1:1", &[])).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.text);
    assert_eq!(a.json()["error"], "temporarily_unavailable");
    assert!(
        !a.text.contains("disk on fire"),
        "no database detail: {}",
        a.text
    );
    assert!(a.headers.contains_key("retry-after"));
    for table in ["sipauth_account", "subscriber"] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    // The database back: the provision works.
    sqlx::query("DROP TRIGGER refuse")
        .execute(&pool)
        .await
        .unwrap();
    let b = send(&state, provision(&token, "127.0.0.1:1", &[])).await;
    assert_eq!(b.status, StatusCode::OK, "{}", b.text);
    // The database gone: readiness says so.
    pool.close().await;
    let ready = send(&state, get("/readyz")).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    let c = send(&state, provision(&token, "127.0.0.1:1", &[])).await;
    assert_eq!(c.status, StatusCode::SERVICE_UNAVAILABLE, "{}", c.text);
}

#[tokio::test]
async fn rejects_a_client_that_never_finishes_its_headers_by_closing_the_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let key = TestKey::generate("k");
    let second = second_issuer(&key).await;
    let state = state("slowloris", &second, "").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sipauth_server::serve(
        listener,
        app(state),
        async {
            let _ = stopped.await;
        },
        std::time::Duration::from_millis(500),
    ));
    // A complete request is answered, with the client's address known.
    let ok = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // Headers that never end: the connection is closed, not held.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST /api/sip/provision HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        slow.read_to_end(&mut buf),
    )
    .await;
    assert!(closed.is_ok(), "the server still holds the connection");
    // Shutdown: the accept loop ends.
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// A request from a page at `origin`.
fn from_origin(method: &str, uri: &str, origin: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("origin", origin);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut request = request.body(Body::empty()).unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo("127.0.0.1:1".parse::<SocketAddr>().unwrap()));
    request
}

fn preflight(origin: &str) -> Request<Body> {
    from_origin(
        "OPTIONS",
        "/api/sip/provision",
        origin,
        &[
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization, content-type",
            ),
        ],
    )
}

#[tokio::test]
async fn a_page_on_an_allowed_origin_may_call_the_api_and_its_preflight_is_answered() {
    let key = TestKey::generate("k");
    let second = second_issuer(&key).await;
    let state = state_with(
        "cors",
        &second,
        r#"cors_allowed_origins = ["https://app.example.com"]"#,
        "",
    )
    .await;
    let answer = send(&state, preflight("https://app.example.com")).await;
    assert!(answer.status.is_success(), "{}", answer.status);
    let h = |name: &str| {
        answer
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
            .unwrap_or_default()
    };
    assert_eq!(h("access-control-allow-origin"), "https://app.example.com");
    for method in ["get", "post", "delete"] {
        assert!(
            h("access-control-allow-methods").contains(method),
            "{method}"
        );
    }
    assert!(h("access-control-allow-headers").contains("authorization"));
    assert!(h("access-control-allow-headers").contains("content-type"));
    assert_eq!(h("access-control-max-age"), "600");
    assert_eq!(
        h("access-control-allow-credentials"),
        "",
        "bearer tokens only"
    );
    assert!(answer.headers.get_all("vary").iter().any(|v| v
        .to_str()
        .unwrap()
        .to_ascii_lowercase()
        .contains("origin")));

    let token = token_of_second(&key, &second, "c-1", "carol@example.com");
    let bearer = format!("Bearer {token}");
    let call = send(
        &state,
        from_origin(
            "POST",
            "/api/sip/provision",
            "https://app.example.com",
            &[("authorization", &bearer)],
        ),
    )
    .await;
    assert_eq!(call.status, StatusCode::OK, "{}", call.text);
    assert_eq!(
        call.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    // An error answer carries the header too, so the page can read why.
    let refused = send(
        &state,
        from_origin(
            "POST",
            "/api/sip/provision",
            "https://app.example.com",
            &[("authorization", "Bearer nope")],
        ),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
}

#[tokio::test]
async fn rejects_pages_on_other_origins_with_no_cors_header() {
    let key = TestKey::generate("k");
    let second = second_issuer(&key).await;
    let state = state_with(
        "cors-other",
        &second,
        r#"cors_allowed_origins = ["https://app.example.com"]"#,
        "",
    )
    .await;
    for origin in [
        "https://evil.example.com",
        "https://app.example.com.evil.example",
        "http://app.example.com",
        "null",
    ] {
        let answer = send(&state, preflight(origin)).await;
        assert!(
            !answer
                .headers
                .keys()
                .any(|k| k.as_str() == "access-control-allow-origin"),
            "{origin}: {:?}",
            answer.headers
        );
    }
    // With no origin configured, the API has no CORS at all: a preflight is a JSON 405.
    let plain = state_with("cors-off", &second, "", "").await;
    let answer = send(&plain, preflight("https://app.example.com")).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(!answer
        .headers
        .keys()
        .any(|k| k.as_str().starts_with("access-control-")));
}

#[tokio::test]
async fn rejects_a_cors_origin_a_browser_never_sends() {
    for bad in ["https://app.example.com/", "app.example.com"] {
        let text = format!(
            "cors_allowed_origins = [\"{bad}\"]\n[[issuer]]\nurl = \"https://issuer.example.com\"\naudiences = [\"a\"]\n"
        );
        let err = ServiceConfig::from_toml(&text)
            .unwrap()
            .check()
            .unwrap_err();
        assert!(err.0.contains("is not an origin"), "{err}");
    }
}

#[tokio::test]
async fn a_single_page_app_is_served_beside_the_api_and_never_shadows_it() {
    let key = TestKey::generate("k");
    let second = second_issuer(&key).await;
    let dir = temp_dir("spa-files");
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>app</title>").unwrap();
    std::fs::write(dir.join("assets/app.js"), "console.log('app')").unwrap();
    // The app tries to shadow the service's paths: it never can.
    std::fs::create_dir_all(dir.join("api")).unwrap();
    std::fs::write(dir.join("api/secret.json"), "{}").unwrap();
    std::fs::write(dir.join("metrics"), "app metrics").unwrap();
    let state = state_with(
        "spa",
        &second,
        &format!("static_dir = \"{}\"", dir.display()),
        "",
    )
    .await;
    let index = send(&state, get("/")).await;
    assert_eq!(index.status, StatusCode::OK);
    assert_eq!(index.text, "<!doctype html><title>app</title>");
    assert_eq!(index.headers["cache-control"], "no-cache");
    let asset = send(&state, get("/assets/app.js")).await;
    assert_eq!(asset.status, StatusCode::OK);
    assert!(asset.headers["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    // A client route: the app's index.
    let route = send(&state, get("/calls/42")).await;
    assert_eq!(route.status, StatusCode::OK);
    assert_eq!(route.text, index.text);
    // A navigation to a route with a dot in it: the app's index too.
    let dotted = send(
        &state,
        Request::builder()
            .uri("/users/john.doe")
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(dotted.status, StatusCode::OK);
    assert_eq!(dotted.text, index.text);
    // A missing file is a 404, not the index (a script tag gets no HTML).
    let missing = send(&state, get("/assets/gone.js")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["error"], "not_found");
    for path in ["/api/secret.json", "/api/sip/unknown", "/scim/v2/Users"] {
        let answer = send(&state, get(path)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.json()["error"], "not_found", "{path}");
    }
    let metrics = send(&state, get("/metrics")).await;
    assert!(
        metrics.text.contains("sipauth_"),
        "the service's own /metrics"
    );
    // Traversal out of the directory finds nothing.
    let escape = send(&state, get("/..%2f..%2fetc%2fpasswd")).await;
    assert_eq!(escape.status, StatusCode::NOT_FOUND);
    // The API is the service's: a token provisions on the same origin.
    let token = token_of_second(&key, &second, "s-1", "sam@example.com");
    let answer = send(&state, provision(&token, "127.0.0.1:1", &[])).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let post = send(
        &state,
        Request::builder()
            .method("POST")
            .uri("/calls/42")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn rejects_a_static_dir_without_an_index() {
    let dir = temp_dir("spa-empty");
    std::fs::create_dir_all(&dir).unwrap();
    let text = format!(
        "static_dir = \"{}\"\n[[issuer]]\nurl = \"https://issuer.example.com\"\naudiences = [\"a\"]\n",
        dir.display()
    );
    let err = ServiceConfig::from_toml(&text)
        .unwrap()
        .check()
        .unwrap_err();
    assert!(err.0.contains("index.html"), "{err}");
}

#[tokio::test]
async fn each_tenant_is_answered_with_its_own_domain_and_servers_and_others_are_refused() {
    let key = TestKey::generate("k");
    let second = second_issuer(&key).await;
    let state = state(
        "tenants",
        &second,
        r#"domain_template = "sip.{email_domain}"
ws_uri_template = "wss://pbx.{email_domain}:7443/ws"
allowed_domains = ["sip.acme.com", "sip.globex.com"]
"#,
    )
    .await;
    for (sub, email, domain, ws) in [
        (
            "t-1",
            "ann@acme.com",
            "sip.acme.com",
            "wss://pbx.acme.com:7443/ws",
        ),
        (
            "t-2",
            "ann@globex.com",
            "sip.globex.com",
            "wss://pbx.globex.com:7443/ws",
        ),
    ] {
        let token = token_of_second(&key, &second, sub, email);
        let answer = send(&state, provision(&token, "127.0.0.1:1", &[])).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let doc = answer.json();
        assert_eq!(doc["sipUri"], format!("sip:ann@{domain}"));
        assert_eq!(doc["sipDomain"], domain);
        assert_eq!(doc["wsServerUri"], ws);
        assert_eq!(doc["realm"], domain);
    }
    let token = token_of_second(&key, &second, "t-3", "mallory@evil.example");
    let refused = send(&state, provision(&token, "127.0.0.1:1", &[])).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert_eq!(refused.json()["error"], "domain_not_allowed");
}

#[tokio::test]
async fn rejects_a_domain_template_without_an_allowlist() {
    let text = "[[issuer]]\nurl = \"https://issuer.example.com\"\naudiences = [\"a\"]\n[sip]\ndomain_template = \"sip.{email_domain}\"\n";
    let err = ServiceConfig::from_toml(text).unwrap().check().unwrap_err();
    assert!(err.0.contains("allowed_domains"), "{err}");
}

#[tokio::test]
async fn an_issuer_with_sip_settings_of_its_own_gives_its_people_those() {
    let key = TestKey::generate("k");
    let second = second_issuer(&key).await;
    // The second issuer (the last [[issuer]]) is a customer with its own PBX.
    let state = state(
        "issuer-sip",
        &second,
        r#"
[issuer.sip]
domain = "VoIP.Second.example"
ws_uri = "wss://pbx.second.example/ws"
sip_server = "sip:pbx.second.example:5060;transport=tcp"
"#,
    )
    .await;
    let token = token_of_second(&key, &second, "o-1", "olga@second.example");
    let answer = send(&state, provision(&token, "127.0.0.1:1", &[])).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let doc = answer.json();
    assert_eq!(doc["sipUri"], "sip:olga@voip.second.example");
    assert_eq!(doc["realm"], "voip.second.example", "its domain's realm");
    assert_eq!(doc["wsServerUri"], "wss://pbx.second.example/ws");
    assert_eq!(
        doc["sipServer"],
        "sip:pbx.second.example:5060;transport=tcp"
    );
    // The first issuer's people keep the service's settings.
    let alice = send(
        &state,
        provision(&id_token_of("alice").await, "127.0.0.1:1", &[]),
    )
    .await;
    assert_eq!(alice.status, StatusCode::OK, "{}", alice.text);
    let doc = alice.json();
    assert_eq!(doc["sipUri"], "sip:alice@sip.example.com");
    assert_eq!(doc["realm"], "sip.example.com");
    assert_eq!(doc["wsServerUri"], "wss://sip.example.com/ws");
    assert_eq!(doc["sipServer"], serde_json::Value::Null);
}

#[tokio::test]
async fn rejects_an_issuers_sip_settings_that_are_not_valid() {
    for (sip, field) in [
        ("domain = \"not a domain\"", "sip.domain"),
        ("ws_uri = \"ws://pbx.example.com/ws\"", "sip.ws_uri"),
        ("sip_server = \"http://pbx.example.com\"", "sip.sip_server"),
        ("domian = \"typo.example.com\"", "domian"),
    ] {
        let text = format!(
            "[[issuer]]\nurl = \"https://issuer.example.com\"\naudiences = [\"a\"]\nsip = {{ {sip} }}\n"
        );
        let err = match ServiceConfig::from_toml(&text) {
            Ok(config) => config.check().unwrap_err().0,
            Err(e) => e.to_string(),
        };
        assert!(err.contains(field), "{sip}: {err}");
    }
}
