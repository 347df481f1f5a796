//! The provisioning API in-process (`app(state)` with tower's `oneshot`), with tokens from the
//! real oidc-provider (ID tokens; opaque access tokens through introspection) and forged ones,
//! over a real SQLite database: the answers the library's `api` strategy and the guide's
//! backend example expect, and every refusal as one JSON body.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use sipauth::{
    ClientSecret, HttpClient, Introspector, Issuer, JwksCache, SystemClock, TokenVerifier,
    VerifyOptions,
};
use sipauth_provision::{Backend, Database, Policy, Provisioner, ServerSecret, SipSettings};
use sipauth_server::{app, AppState, IssuerConfig, OutboundBudget, TokenCheck};
use sipauth_testkit::keys::{self, TestKey};
use sipauth_testkit::proxy::CountingProxy;
use sipauth_testkit::{clients, oidc_issuer};
use tower::ServiceExt;

const REDIRECT: &str = "http://127.0.0.1:5566/callback";

/// A real sign-in at oidc-provider: (ID token, opaque access token).
async fn tokens_of(login: &str) -> (String, String) {
    tokens_for(clients::PUBLIC, login).await
}

/// A real sign-in of `client` at oidc-provider: (ID token, access token).
async fn tokens_for(client: &str, login: &str) -> (String, String) {
    let t = sipauth_testkit::signin::tokens_of(&oidc_issuer(), client, login, REDIRECT).await;
    (t.id_token, t.access_token)
}

async fn state(name: &str) -> AppState {
    state_via(name, &oidc_issuer(), OutboundBudget::default()).await
}

/// Trusting ID tokens of the public client and JWT access tokens for the provisioning API.
async fn state_with_resource(name: &str) -> AppState {
    let mut state = state(name).await;
    let tokens = Arc::get_mut(&mut state.tokens).unwrap();
    tokens.issuers[0]
        .audiences
        .push(clients::PROVISION_RESOURCE.into());
    state
}

/// The service trusting the real provider, reaching its endpoints through `base` (the provider
/// itself, or a counting proxy in front of it), asking about opaque tokens within `budget`.
async fn state_via(name: &str, base: &str, budget: OutboundBudget) -> AppState {
    let issuer = oidc_issuer();
    let http = HttpClient::new().unwrap();
    let clock: sipauth::SharedClock = Arc::new(SystemClock);
    let jwks = JwksCache::new(
        format!("{base}/jwks").parse().unwrap(),
        http.clone(),
        clock.clone(),
        VerifyOptions::default(),
    );
    let introspector = Introspector::new(
        format!("{base}/token/introspection").parse().unwrap(),
        http.clone(),
        clients::CONFIDENTIAL_BASIC,
        ClientSecret::new(clients::CONFIDENTIAL_BASIC_SECRET),
        Issuer::new(issuer.clone()),
        clock.clone(),
    );
    let tokens = TokenCheck::with_budget(
        vec![IssuerConfig {
            verifier: TokenVerifier::new(Issuer::new(issuer.clone()), Some(jwks), clock.clone()),
            audiences: vec![clients::PUBLIC.into()],
            introspector: Some(introspector),
            userinfo: Some((http.clone(), format!("{base}/me").parse().unwrap())),
            userinfo_tokens: false,
            opaque_prefix: None,
        }],
        clock.clone(),
        budget,
    );
    let dir = std::env::temp_dir().join(format!(
        "sipauth-server-{name}-{}-{}",
        std::process::id(),
        sipauth::random_urlsafe(4).unwrap()
    ));
    let db = Database::open(&dir.join("server.db").display().to_string())
        .await
        .unwrap();
    let provisioner = Provisioner::new(
        db,
        Backend::KamailioSubscriber {
            store_plaintext: false,
        },
        SipSettings {
            domain: "sip.example.com".into(),
            realm: None,
            ws_uri: "wss://sip.example.com/ws".into(),
            sip_server: None,
        },
        ServerSecret::new(b"server-secret-for-the-api-tests".to_vec()).unwrap(),
        Policy::default(),
        clock,
    );
    AppState::new(Arc::new(provisioner), Arc::new(tokens))
}

/// A provision with `token` from the client at `peer` (as the accept loop would say).
async fn call_from(state: &AppState, peer: &str, token: Option<&str>) -> Answer {
    let mut request = Request::builder().method("POST").uri("/api/sip/provision");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let mut request = request.body(Body::empty()).unwrap();
    request.extensions_mut().insert(axum::extract::ConnectInfo(
        peer.parse::<std::net::SocketAddr>().unwrap(),
    ));
    answer_of(app(state.clone()).oneshot(request).await.unwrap()).await
}

struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    body: Value,
}

async fn call(state: &AppState, method: &str, token: Option<&str>, body: Option<String>) -> Answer {
    let mut request = Request::builder().method(method).uri("/api/sip/provision");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request
        .header("content-type", "application/json")
        .body(body.map(Body::from).unwrap_or_else(Body::empty))
        .unwrap();
    answer_of(app(state.clone()).oneshot(request).await.unwrap()).await
}

async fn answer_of(response: axum::response::Response) -> Answer {
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("every answer is JSON")
    };
    Answer {
        status,
        challenge,
        body,
    }
}

#[tokio::test]
async fn an_id_token_provisions_its_owner_whatever_the_body_claims() {
    let state = state("idtoken").await;
    let (id_token, _) = tokens_of("alice").await;
    let lie = json!({ "userInfo": { "sub": "mallory", "email": "mallory@example.com" } });
    let a = call(&state, "POST", Some(&id_token), Some(lie.to_string())).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["username"], "alice");
    assert_eq!(a.body["sipUri"], "sip:alice@sip.example.com");
    assert_eq!(a.body["sipPassword"], a.body["password"]);
    assert_eq!(a.body["authorizationUsername"], "alice");
    assert_eq!(a.body["realm"], "sip.example.com");
    assert_eq!(a.body["wsServerUri"], "wss://sip.example.com/ws");
    // oidc-provider puts no profile claims in ID tokens: the name falls back to the username.
    assert_eq!(a.body["displayName"], "alice");
    assert_eq!(a.body["expiresAt"], Value::Null);
    assert_eq!(a.body["sipServer"], Value::Null);
    // GET works too, and hands out the same password.
    let b = call(&state, "GET", Some(&id_token), None).await;
    assert_eq!(b.body["password"], a.body["password"]);
    assert_eq!(state.provisioner.list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_opaque_access_token_is_verified_by_introspection() {
    let state = state("opaque").await;
    let (id_token, access_token) = tokens_of("bob").await;
    let by_id = call(&state, "POST", Some(&id_token), None).await;
    let by_at = call(&state, "POST", Some(&access_token), None).await;
    assert_eq!(by_at.status, StatusCode::OK, "{}", by_at.body);
    assert_eq!(by_at.body["username"], "bob");
    assert_eq!(
        by_at.body["password"], by_id.body["password"],
        "one person, one account"
    );
}

#[tokio::test]
async fn an_rfc9068_jwt_access_token_is_verified_without_asking_the_provider() {
    let proxy = CountingProxy::start(&oidc_issuer()).await.unwrap();
    let mut state = state_via("jwt-at", &proxy.base, OutboundBudget::default()).await;
    Arc::get_mut(&mut state.tokens).unwrap().issuers[0]
        .audiences
        .push(clients::PROVISION_RESOURCE.into());
    let (_, access_token) = tokens_for(clients::JWT_ACCESS_TOKENS, "hank").await;
    assert_eq!(access_token.split('.').count(), 3, "a JWT access token");
    let a = call(&state, "POST", Some(&access_token), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["username"], "hank");
    assert_eq!(
        proxy.count("/token/introspection"),
        0,
        "a JWT is checked by its signature"
    );
    assert_eq!(proxy.count("/jwks"), 1);
}

#[tokio::test]
async fn rejects_tokens_issued_to_other_clients_or_resources() {
    // Only the public client's tokens are for this service.
    let state = state("other-clients").await;
    // A JWT access token for the provisioning resource, where that resource is not configured.
    let (id_token, access_token) = tokens_for(clients::JWT_ACCESS_TOKENS, "ivan").await;
    for (what, token) in [("JWT access token", access_token), ("ID token", id_token)] {
        let a = call(&state, "POST", Some(&token), None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{what}: {}", a.body);
        assert!(
            a.body["error_description"]
                .as_str()
                .unwrap()
                .contains("audience"),
            "{what}: {}",
            a.body
        );
    }
    // An opaque access token of another client, presented as opaque: introspection names it.
    let (_, opaque) = tokens_for(clients::SHORT_LIVED, "ivan").await;
    let b = call(&state, "POST", Some(&opaque), None).await;
    assert_eq!(b.status, StatusCode::UNAUTHORIZED, "{}", b.body);
    assert!(state.provisioner.list().await.unwrap().is_empty());
    // With the resource configured, the JWT access token is welcome.
    let state = state_with_resource("other-clients-ok").await;
    let (_, access_token) = tokens_for(clients::JWT_ACCESS_TOKENS, "ivan").await;
    assert_eq!(
        call(&state, "POST", Some(&access_token), None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_opaque_token_is_asked_about_once_and_its_profile_comes_from_userinfo() {
    let proxy = CountingProxy::start(&oidc_issuer()).await.unwrap();
    let state = state_via("opaque-cache", &proxy.base, OutboundBudget::default()).await;
    let (_, access_token) = tokens_of("erin").await;
    let answers =
        futures::future::join_all((0..10).map(|_| call(&state, "POST", Some(&access_token), None)))
            .await;
    for a in &answers {
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.body["username"], "erin");
    }
    // The profile claims oidc-provider keeps out of tokens came from userinfo, with the answer.
    assert_eq!(answers[0].body["displayName"], "Erin Example");
    assert_eq!(
        proxy.count("/token/introspection"),
        1,
        "ten calls, one question"
    );
    assert_eq!(proxy.count("/me"), 1, "the profile is asked once, with it");
}

#[tokio::test]
async fn rejects_a_flood_of_garbage_opaque_tokens_without_a_request_storm() {
    let proxy = CountingProxy::start(&oidc_issuer()).await.unwrap();
    let state = state_via("garbage", &proxy.base, OutboundBudget::new(1, 5)).await;
    // One garbage token, again and again: asked once, refused from memory after.
    for _ in 0..20 {
        let a = call(&state, "POST", Some("garbage-token-repeated"), None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
        assert_eq!(a.body["error"], "invalid_token");
    }
    assert_eq!(proxy.count("/token/introspection"), 1);
    // 200 distinct garbage tokens from 200 addresses: the budget bounds the questions; the
    // rest wait their turn.
    let mut unavailable = 0;
    for i in 0..200 {
        let from = format!("198.51.100.{}:4000", i % 250);
        let a = call_from(&state, &from, Some(&format!("garbage-{i}"))).await;
        match a.status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(a.body["error"], "temporarily_unavailable");
                unavailable += 1;
            }
            other => panic!("{other}: {}", a.body),
        }
    }
    assert!(unavailable > 150, "{unavailable}");
    assert!(
        proxy.count("/token/introspection") <= 10,
        "{}",
        proxy.count("/token/introspection")
    );
    assert_eq!(
        proxy.count("/me"),
        0,
        "a refused token gets no profile lookup"
    );
}

#[tokio::test]
async fn rejects_a_flood_of_unknown_key_ids_with_at_most_one_key_refetch() {
    let proxy = CountingProxy::start(&oidc_issuer()).await.unwrap();
    let state = state_via("kids", &proxy.base, OutboundBudget::default()).await;
    let (id_token, _) = tokens_of("fred").await;
    assert_eq!(
        call(&state, "POST", Some(&id_token), None).await.status,
        StatusCode::OK
    );
    let fetched = proxy.count("/jwks");
    assert_eq!(fetched, 1);
    let claims = json!({ "iss": oidc_issuer(), "sub": "fred", "aud": clients::PUBLIC, "iat": 1, "exp": 4_000_000_000_i64 });
    let key = TestKey::generate("x");
    for i in 0..200 {
        let a = call(
            &state,
            "POST",
            Some(&key.sign_as(&claims, &format!("kid-{i}"))),
            None,
        )
        .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    }
    assert!(
        proxy.count("/jwks") <= fetched + 1,
        "{} key fetches",
        proxy.count("/jwks")
    );
}

#[tokio::test]
async fn rejects_missing_forged_and_foreign_tokens_with_401() {
    let state = state("forged").await;
    let none = call(&state, "POST", None, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.challenge.as_deref(), Some("Bearer"));
    assert_eq!(none.body["error"], "invalid_request");

    let issuer = oidc_issuer();
    let claims = json!({ "iss": issuer, "sub": "alice", "aud": clients::PUBLIC, "iat": 1, "exp": 4_000_000_000_i64 });
    let forged = TestKey::generate("not-the-providers").sign(&claims);
    let unsigned = keys::unsigned(&claims);
    let hs = keys::hs256(&claims, b"guess");
    let foreign = TestKey::generate("k").sign(&json!({ "iss": "https://evil.example", "sub": "x", "aud": clients::PUBLIC, "iat": 1, "exp": 4_000_000_000_i64 }));
    for (what, token) in [
        ("garbage", "not-a-token".to_string()),
        ("forged signature", forged),
        ("alg none", unsigned),
        ("hs256", hs),
        ("foreign issuer", foreign),
    ] {
        let a = call(&state, "POST", Some(&token), None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{what}: {}", a.body);
        assert_eq!(
            a.challenge.as_deref(),
            Some("Bearer error=\"invalid_token\""),
            "{what}"
        );
        assert_eq!(a.body["error"], "invalid_token", "{what}");
        assert!(!a.body.to_string().contains(&token[..token.len().min(20)]) || what == "garbage");
    }
    assert!(
        state.provisioner.list().await.unwrap().is_empty(),
        "nobody was provisioned"
    );
}

#[tokio::test]
async fn rejects_oversized_and_malformed_bodies_as_json() {
    let state = state("bodies").await;
    let (id_token, _) = tokens_of("carl").await;
    let big = format!("{{\"userInfo\":\"{}\"}}", "x".repeat(100 * 1024));
    let a = call(&state, "POST", Some(&id_token), Some(big)).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.body);
    assert_eq!(a.body["error"], "invalid_request");
    for body in ["{not json", "[]", r#"{"userInfo":[null]}"#, "7"] {
        let b = call(&state, "POST", Some(&id_token), Some(body.into())).await;
        assert_eq!(b.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(b.body["error_description"]
            .as_str()
            .unwrap()
            .contains("provisioning request"));
    }
}

#[tokio::test]
async fn every_body_the_document_allows_provisions() {
    // The document's body is optional: none, `null`, or the guide's `{"userInfo": ...}`.
    let state = state("null-body").await;
    let (id_token, _) = tokens_of("nell").await;
    for body in [
        None,
        Some("null"),
        Some(" "),
        Some(r#"{"userInfo":{"sub":"x"}}"#),
    ] {
        let a = call(&state, "POST", Some(&id_token), body.map(str::to_string)).await;
        assert_eq!(a.status, StatusCode::OK, "{body:?}: {}", a.body);
    }
}

#[tokio::test]
async fn rejects_a_bad_body_without_a_token_as_unauthenticated_first() {
    // The caller is decided before the body is judged: 401, not 400 or 413.
    let state = state("auth-first").await;
    for body in ["{not json".to_string(), "x".repeat(100 * 1024)] {
        let a = call(&state, "POST", None, Some(body)).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
        assert_eq!(a.challenge.as_deref(), Some("Bearer"));
    }
}

#[tokio::test]
async fn delete_deprovisions_the_caller() {
    let state = state("delete").await;
    let (id_token, _) = tokens_of("dana").await;
    let first = call(&state, "POST", Some(&id_token), None).await;
    let gone = call(&state, "DELETE", Some(&id_token), None).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let again = call(&state, "POST", Some(&id_token), None).await;
    assert_ne!(
        again.body["password"], first.body["password"],
        "the old password is dead"
    );
}

#[tokio::test]
async fn health_readiness_and_unknown_routes() {
    let state = state("health").await;
    for (uri, want) in [
        ("/healthz", StatusCode::OK),
        ("/readyz", StatusCode::OK),
        ("/nope", StatusCode::NOT_FOUND),
    ] {
        let response = app(state.clone())
            .oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), want, "{uri}");
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let _: Value = serde_json::from_slice(&bytes).expect("JSON");
    }
    // A method the endpoint does not take: still one JSON error.
    let a = call(&state, "PUT", None, None).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(a.body["error"], "invalid_request");
}

#[tokio::test]
async fn rejects_one_client_spending_the_outbound_budget_that_others_need() {
    let proxy = CountingProxy::start(&oidc_issuer()).await.unwrap();
    let state = state_via("share", &proxy.base, OutboundBudget::new(5, 10)).await;
    // One address floods distinct garbage: its share (a fifth) is spent, then 429 for it alone.
    let mut limited = 0;
    for i in 0..50 {
        let a = call_from(&state, "203.0.113.7:5000", Some(&format!("flood-{i}"))).await;
        match a.status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("{other}: {}", a.body),
        }
    }
    assert!(limited >= 45, "{limited}");
    assert!(proxy.count("/token/introspection") <= 5);
    // Another client's real opaque token still gets its question asked.
    let (_, access_token) = tokens_of("gwen").await;
    let real = call_from(&state, "192.0.2.44:5000", Some(&access_token)).await;
    assert_eq!(real.status, StatusCode::OK, "{}", real.body);
}

#[tokio::test]
async fn rejects_caching_a_providers_outage_as_an_invalid_token() {
    let proxy = CountingProxy::start(&oidc_issuer()).await.unwrap();
    let state = state_via("outage", &proxy.base, OutboundBudget::default()).await;
    let (_, access_token) = tokens_of("hugo").await;
    for status in [500, 503, 429] {
        proxy.fail("/token/introspection", status, 1);
        let a = call(&state, "POST", Some(&access_token), None).await;
        assert_eq!(
            a.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{status}: {}",
            a.body
        );
        assert_eq!(a.body["error"], "temporarily_unavailable");
        assert!(
            !a.body.to_string().contains("internal details"),
            "the provider's words stay out: {}",
            a.body
        );
    }
    // The provider is back: the same token works at once (nothing was kept as "invalid").
    let a = call(&state, "POST", Some(&access_token), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn rejects_echoing_the_providers_words_in_a_401() {
    let state = state("no-echo").await;
    let a = call(
        &state,
        "POST",
        Some("an-opaque-token-the-provider-does-not-know"),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let description = a.body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with("the token was not accepted ("),
        "{description}"
    );
}

#[tokio::test]
async fn rejects_metrics_and_readiness_readers_outside_the_ops_allowlist() {
    let mut state = state("ops-walls").await;
    state.network = Arc::new(
        sipauth_server::NetworkPolicy::parse(&[], &[])
            .unwrap()
            .with_ops_networks(&["127.0.0.1".into()])
            .unwrap(),
    );
    for (path, from, want) in [
        ("/metrics", "203.0.113.9:1", StatusCode::FORBIDDEN),
        ("/readyz", "203.0.113.9:1", StatusCode::FORBIDDEN),
        ("/healthz", "203.0.113.9:1", StatusCode::OK),
        ("/metrics", "127.0.0.1:1", StatusCode::OK),
    ] {
        let mut request = Request::builder().uri(path).body(Body::empty()).unwrap();
        request.extensions_mut().insert(axum::extract::ConnectInfo(
            from.parse::<std::net::SocketAddr>().unwrap(),
        ));
        let response = app(state.clone()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), want, "{path} from {from}");
    }
}
