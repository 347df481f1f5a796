//! The device grant's rules (RFC 8628 §3.5) against a loopback stub whose token endpoint the test
//! controls: `slow_down` widens the polling interval, a code that expires ends the wait cleanly,
//! and a refusal is reported with the provider's code. The approved path runs against the real
//! oidc-provider in the CLI's tests.

use serde_json::json;
use sipauth::{ClientRegistration, OidcClient, ProviderConfig};
use sipauth_testkit::stub::{Canned, Stub};

fn client(stub: &Stub, expires_in: u64) -> OidcClient {
    let mut p = ProviderConfig::custom(
        ClientRegistration::public("tv", "http://127.0.0.1/callback"),
        &stub.url("/authorize"),
        &stub.url("/token"),
    )
    .unwrap()
    .with_scopes(["profile"]);
    p.device_authorization_endpoint = Some(stub.url("/device").parse().unwrap());
    stub.set(
        "/device",
        Canned::json(200, json!({
            "device_code": "dc-1", "user_code": "WDJB-MJHT",
            // Google calls it verification_url.
            "verification_url": "https://example.com/device", "expires_in": expires_in, "interval": 1
        })),
    );
    OidcClient::new(p).unwrap()
}

fn pending(error: &str) -> Canned {
    Canned::json(400, json!({ "error": error }))
}

#[tokio::test]
async fn starts_with_the_code_and_uri_and_polls_with_the_device_grant() {
    let stub = Stub::start().await.unwrap();
    let client = client(&stub, 600);
    let device = client.start_device_authorization().await.unwrap();
    assert_eq!(device.user_code, "WDJB-MJHT");
    assert_eq!(device.verification_uri, "https://example.com/device");
    assert_eq!(device.interval, 1);
    assert_eq!(stub.requests("/device")[0].form()["scope"], "profile");
    stub.set(
        "/token",
        Canned::json(200, json!({"access_token": "at", "token_type": "Bearer"})),
    );
    let exchanged = client.poll_device_token(&device).await.unwrap();
    assert_eq!(exchanged.tokens.access_token.secret(), "at");
    let form = stub.requests("/token")[0].form();
    assert_eq!(
        form["grant_type"],
        "urn:ietf:params:oauth:grant-type:device_code"
    );
    assert_eq!(form["device_code"], "dc-1");
    assert_eq!(form["client_id"], "tv");
}

#[tokio::test]
async fn rejects_an_expired_device_code_cleanly() {
    let stub = Stub::start().await.unwrap();
    let client = client(&stub, 2);
    let device = client.start_device_authorization().await.unwrap();
    stub.set("/token", pending("authorization_pending"));
    let err = client.poll_device_token(&device).await.unwrap_err();
    assert_eq!(err.code(), "expired_token");
    assert!(stub.hits("/token") >= 1);
}

#[tokio::test]
async fn slow_down_widens_the_interval() {
    let stub = Stub::start().await.unwrap();
    // Expires after 3 s; polls every 1 s; the first answer says slow_down (+5 s).
    let client = client(&stub, 3);
    let device = client.start_device_authorization().await.unwrap();
    stub.set("/token", pending("slow_down"));
    let err = client.poll_device_token(&device).await.unwrap_err();
    assert_eq!(err.code(), "expired_token");
    // Without honouring slow_down there would be a second poll at 2 s.
    assert_eq!(stub.hits("/token"), 1);
}

#[tokio::test]
async fn rejects_a_refusal_with_the_providers_code() {
    let stub = Stub::start().await.unwrap();
    let client = client(&stub, 600);
    let device = client.start_device_authorization().await.unwrap();
    stub.set("/token", pending("access_denied"));
    assert_eq!(
        client.poll_device_token(&device).await.unwrap_err().code(),
        "access_denied"
    );
}
