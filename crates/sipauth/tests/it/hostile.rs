//! Hostile and sparse providers, each a loopback server: bodies too large to read (declared, or
//! streamed without end), a device grant that issues no ID token, endpoints published only in
//! RFC 8414 metadata, and revocation that is unsupported, refused, or wants Bearer
//! authentication. Each refusal is a typed error with a stable code, found quickly.

use std::time::Duration;

use serde_json::json;
use sipauth::{ClientRegistration, OidcClient, ProviderConfig, Revocation, TokenSet};
use sipauth_testkit::stub::{Canned, Stub};

/// A server whose every answer is an endless JSON-looking chunked body.
async fn endless_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async {
        let chunk = axum::body::Bytes::from(vec![b' '; 64 * 1024]);
        let head = futures::stream::once(async {
            Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"{\"issuer\":\""))
        });
        let tail = futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
        axum::response::Response::builder()
            .header("content-type", "application/json")
            .body(axum::body::Body::from_stream(futures::StreamExt::chain(
                head, tail,
            )))
            .unwrap()
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

#[tokio::test]
async fn rejects_an_endless_discovery_document_without_reading_it_all() {
    let base = endless_server().await;
    let http = sipauth::HttpClient::new().unwrap();
    let started = sipauth::monotonic_now();
    let err = ProviderConfig::discover(
        &http,
        &base,
        ClientRegistration::public("c", "http://127.0.0.1/cb"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "response_too_large", "{err}");
    assert!(err.to_string().contains("524288 bytes"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refused as soon as the limit passed, not at the timeout"
    );
}

#[tokio::test]
async fn rejects_a_declared_oversized_jwks_before_reading_it() {
    let stub = Stub::start().await.unwrap();
    stub.set(
        "/.well-known/openid-configuration",
        Canned::json(
            200,
            json!({
                "issuer": stub.base, "authorization_endpoint": stub.url("/auth"),
                "token_endpoint": stub.url("/token"), "jwks_uri": stub.url("/jwks"),
                // Far over the 512 KiB discovery limit, with a Content-Length.
                "padding": "x".repeat(600 * 1024)
            }),
        ),
    );
    let http = sipauth::HttpClient::new().unwrap();
    let err = ProviderConfig::discover(
        &http,
        &stub.base,
        ClientRegistration::public("c", "http://127.0.0.1/cb"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "response_too_large", "{err}");
}

/// The stub's discovery document, with a device endpoint and without offline_access.
fn serve(stub: &Stub, extra: serde_json::Value) {
    let mut all = json!({
        "device_authorization_endpoint": stub.url("/device"),
        "scopes_supported": ["openid", "email", "profile"]
    });
    for (k, v) in extra.as_object().unwrap() {
        all[k] = v.clone();
    }
    stub.serve_discovery(all);
}

async fn discovered(stub: &Stub) -> OidcClient {
    let http = sipauth::HttpClient::new().unwrap();
    let provider = ProviderConfig::discover(
        &http,
        &stub.base,
        ClientRegistration::public("tv", "http://127.0.0.1/callback"),
    )
    .await
    .unwrap();
    OidcClient::builder(provider).http(http).build().unwrap()
}

#[tokio::test]
async fn a_device_grant_without_an_id_token_takes_the_identity_from_userinfo() {
    let stub = Stub::start().await.unwrap();
    serve(&stub, json!({}));
    stub.set(
        "/device",
        Canned::json(
            200,
            json!({
                "device_code": "dc", "user_code": "ABCD-EFGH",
                "verification_uri": "https://example.com/device", "expires_in": 600, "interval": 1
            }),
        ),
    );
    // Allowed by RFC 8628: tokens, but no ID token, although openid was requested.
    stub.set(
        "/token",
        Canned::json(
            200,
            json!({"access_token": "at-dev", "token_type": "Bearer", "expires_in": 60}),
        ),
    );
    stub.set(
        "/me",
        Canned::json(
            200,
            json!({"sub": "dana", "email": "dana@example.com", "email_verified": true}),
        ),
    );
    let client = discovered(&stub).await;
    let device = client.start_device_authorization().await.unwrap();
    let exchanged = client.poll_device_token(&device).await.unwrap();
    assert!(exchanged.id_token.is_none());
    let user = client.user_info(&exchanged.tokens, None).await.unwrap();
    assert_eq!(user.sub, "dana");
    assert_eq!(
        stub.requests("/me")[0].headers["authorization"],
        "Bearer at-dev"
    );
}

fn tokens() -> TokenSet {
    serde_json::from_value(json!({
        "access_token": "at-1", "token_type": "Bearer", "refresh_token": "rt-1"
    }))
    .unwrap()
}

#[tokio::test]
async fn revocation_is_reported_as_not_supported_when_no_metadata_names_it() {
    let stub = Stub::start().await.unwrap();
    serve(&stub, json!({}));
    let client = discovered(&stub).await;
    let report = client.revoke_tokens(&tokens()).await;
    assert_eq!(report.access_token, Revocation::NotSupported);
    assert_eq!(report.refresh_token, Some(Revocation::NotSupported));
    assert!(!report.all_revoked());
    assert!(!report.any_failed());
    assert_eq!(
        stub.hits("/.well-known/oauth-authorization-server"),
        1,
        "RFC 8414 metadata was consulted"
    );
}

#[tokio::test]
async fn revocation_found_in_rfc8414_metadata_uses_bearer_when_listed() {
    let stub = Stub::start().await.unwrap();
    serve(&stub, json!({}));
    stub.set(
        "/.well-known/oauth-authorization-server",
        Canned::json(
            200,
            json!({
                "issuer": stub.base, "authorization_endpoint": stub.url("/auth"),
                "token_endpoint": stub.url("/token"), "revocation_endpoint": stub.url("/revoke"),
                "revocation_endpoint_auth_methods_supported": ["none", "Bearer"]
            }),
        ),
    );
    stub.set("/revoke", Canned::text(200, "text/plain", ""));
    let client = discovered(&stub).await;
    let report = client.revoke_tokens(&tokens()).await;
    assert!(report.all_revoked(), "{report:?}");
    let revokes = stub.requests("/revoke");
    assert_eq!(revokes.len(), 2);
    assert_eq!(revokes[0].form()["token"], "rt-1");
    assert_eq!(revokes[1].form()["token"], "at-1");
    for r in revokes {
        assert_eq!(r.headers["authorization"], "Bearer at-1");
    }
}

#[tokio::test]
async fn rejects_nothing_silently_when_the_provider_refuses_revocation() {
    let stub = Stub::start().await.unwrap();
    serve(&stub, json!({"revocation_endpoint": stub.url("/revoke")}));
    stub.set(
        "/revoke",
        Canned::json(
            401,
            json!({"error": "invalid_client", "error_description": "client authentication failed"}),
        ),
    );
    let client = discovered(&stub).await;
    let report = client.revoke_tokens(&tokens()).await;
    assert!(report.any_failed());
    match report.access_token {
        Revocation::Failed { code, .. } => assert_eq!(code, "invalid_client"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rejects_a_malformed_userinfo_body_as_the_providers_fault() {
    let stub = Stub::start().await.unwrap();
    serve(&stub, json!({}));
    stub.set(
        "/me",
        Canned::json(200, json!({"sub": 5, "email": ["not", "a string"]})),
    );
    let client = discovered(&stub).await;
    let err = client.user_info(&tokens(), None).await.unwrap_err();
    assert_eq!(err.code(), "userinfo_failed", "{err}");
    assert!(matches!(err, sipauth::Error::Response(_)), "{err:?}");
}
