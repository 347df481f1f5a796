//! Back-channel logout in-process, with a loopback issuer signing with a key of our own, so
//! every refusal can be forged: the effects per issuer (`sessions`, `rotate`, `disable` until a
//! token issued after the logout), the spec's answers (200; 400 with a JSON error;
//! `Cache-Control: no-store`), and replayed or malformed logout tokens. The real provider's
//! logout (oidc-provider) is in the command's tests, with a real web sign-in.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Value};
use sipauth::{HttpClient, Issuer, JwksCache, SystemClock, TokenVerifier, VerifyOptions};
use sipauth_provision::{
    Backend, Database, LogoutEffect, Policy, Provisioner, ServerSecret, SipSettings,
};
use sipauth_server::{app, AppState, Backchannel, IssuerConfig, TokenCheck};
use sipauth_testkit::keys::TestKey;
use sipauth_testkit::stub::{Canned, Stub};
use tower::ServiceExt;

const CLIENT: &str = "web-client";

struct Setup {
    state: AppState,
    stub: Stub,
    key: TestKey,
}

fn now() -> i64 {
    use sipauth::Clock;
    SystemClock.now_unix()
}

async fn setup(effect: LogoutEffect) -> Setup {
    let stub = Stub::start().await.unwrap();
    let key = TestKey::generate("k1");
    stub.set("/jwks", Canned::json(200, TestKey::jwks(&[&key])));
    let clock: sipauth::SharedClock = Arc::new(SystemClock);
    let jwks = JwksCache::new(
        stub.url("/jwks").parse().unwrap(),
        HttpClient::new().unwrap(),
        clock.clone(),
        VerifyOptions::default(),
    );
    let tokens = TokenCheck::new(
        vec![IssuerConfig {
            verifier: TokenVerifier::new(Issuer::new(stub.base.clone()), Some(jwks), clock.clone()),
            audiences: vec![CLIENT.into()],
            introspector: None,
            userinfo: None,
            userinfo_tokens: false,
            opaque_prefix: None,
        }],
        clock.clone(),
    );
    let dir = std::env::temp_dir().join(format!(
        "sipauth-bcl-{}-{}",
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
        ServerSecret::new(b"server-secret-for-the-bcl-tests".to_vec()).unwrap(),
        Policy::default(),
        clock,
    );
    let state = AppState::new(Arc::new(provisioner), Arc::new(tokens))
        .with_backchannel(Backchannel::new().with_client(&stub.base, CLIENT, effect));
    Setup { state, stub, key }
}

impl Setup {
    /// Zoe's ID token, issued at `iat`.
    fn id_token(&self, iat: i64) -> String {
        self.key.sign(&json!({
            "iss": self.stub.base, "sub": "zoe", "aud": CLIENT, "iat": iat, "exp": iat + 600,
            "email": "zoe@example.com", "email_verified": true, "sid": "s-1"
        }))
    }

    fn logout_claims(&self, jti: &str) -> Value {
        json!({
            "iss": self.stub.base, "aud": CLIENT, "iat": now(), "exp": now() + 120, "jti": jti,
            "sub": "zoe", "events": {sipauth::BACKCHANNEL_LOGOUT_EVENT: {}}
        })
    }

    fn logout_token(&self, claims: &Value) -> String {
        self.key
            .sign_with_header(claims, |h| h.typ = Some("logout+jwt".into()))
    }

    async fn provision(&self, token: &str) -> (u16, Value) {
        let request = Request::builder()
            .method("POST")
            .uri("/api/sip/provision")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let answer = app(self.state.clone()).oneshot(request).await.unwrap();
        let status = answer.status().as_u16();
        let bytes = axum::body::to_bytes(answer.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// `POST /backchannel-logout` with a form body: (status, Cache-Control, JSON body).
    async fn logout(&self, form: &str) -> (u16, String, Value) {
        let request = Request::builder()
            .method("POST")
            .uri("/backchannel-logout")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form.to_string()))
            .unwrap();
        let answer = app(self.state.clone()).oneshot(request).await.unwrap();
        let status = answer.status().as_u16();
        let cache = answer
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(answer.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            cache,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn subscriber_rows(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM subscriber WHERE username = 'zoe'")
            .fetch_one(self.state.provisioner.database().pool())
            .await
            .unwrap()
    }
}

fn form(token: &str) -> String {
    format!("logout_token={token}")
}

#[tokio::test]
async fn a_logout_with_disable_ends_sip_access_until_a_token_issued_after_it() {
    let s = setup(LogoutEffect::Disable).await;
    let before = s.id_token(now() - 30);
    let (status, first) = s.provision(&before).await;
    assert_eq!(status, 200, "{first}");
    let (status, cache, _) = s
        .logout(&form(&s.logout_token(&s.logout_claims("j1"))))
        .await;
    assert_eq!((status, cache.as_str()), (200, "no-store"));
    assert_eq!(s.subscriber_rows().await, 0, "the row went with the logout");
    let (status, refused) = s.provision(&before).await;
    // The client learns why: the provider signed the person out (sign in again), not an
    // operator's disable.
    assert_eq!(
        (status, refused["error"].as_str()),
        (401, Some("signed_out"))
    );
    // A sign-in after the logout: access again, with a password the old one is not.
    let (status, again) = s.provision(&s.id_token(now() + 2)).await;
    assert_eq!(status, 200, "{again}");
    assert_ne!(again["password"], first["password"]);
    assert_eq!(s.subscriber_rows().await, 1);
}

#[tokio::test]
async fn a_logout_with_rotate_kills_the_password_and_with_sessions_keeps_it() {
    let s = setup(LogoutEffect::Rotate).await;
    let token = s.id_token(now() - 30);
    let (_, first) = s.provision(&token).await;
    let (status, _, _) = s
        .logout(&form(&s.logout_token(&s.logout_claims("r1"))))
        .await;
    assert_eq!(status, 200);
    let (status, second) = s.provision(&token).await;
    assert_eq!(status, 200, "rotate does not refuse");
    assert_ne!(second["password"], first["password"]);

    let s = setup(LogoutEffect::Sessions).await;
    let (_, first) = s.provision(&token_of(&s)).await;
    let (status, _, _) = s
        .logout(&form(&s.logout_token(&s.logout_claims("s1"))))
        .await;
    assert_eq!(status, 200);
    let (_, second) = s.provision(&token_of(&s)).await;
    assert_eq!(
        second["password"], first["password"],
        "SIP access untouched"
    );
}

fn token_of(s: &Setup) -> String {
    s.id_token(now() - 30)
}

#[tokio::test]
async fn rejects_logout_tokens_that_are_not_ones_or_replayed_with_400() {
    let s = setup(LogoutEffect::Disable).await;
    let good = s.logout_token(&s.logout_claims("once"));
    let (status, _, _) = s.logout(&form(&good)).await;
    assert_eq!(status, 200);
    let mut other_aud = s.logout_claims("a1");
    other_aud["aud"] = json!("another-client");
    let mut with_nonce = s.logout_claims("n1");
    with_nonce["nonce"] = json!("n");
    let mut foreign = s.logout_claims("f1");
    foreign["iss"] = json!("https://evil.example");
    let forged = TestKey::generate("k1").sign(&s.logout_claims("g1"));
    for (what, body) in [
        ("a replay", form(&good)),
        ("no logout_token", "token=x".to_string()),
        ("not a JWT", form("not-a-jwt")),
        ("another client's", form(&s.logout_token(&other_aud))),
        ("an ID token", form(&s.id_token(now()))),
        ("with a nonce", form(&s.logout_token(&with_nonce))),
        ("an untrusted issuer", form(&s.logout_token(&foreign))),
        ("a forged signature", form(&forged)),
    ] {
        let (status, cache, error) = s.logout(&body).await;
        assert_eq!(status, 400, "{what}: {error}");
        assert_eq!(cache, "no-store", "{what}");
        assert_eq!(error["error"], "invalid_request", "{what}");
    }
}
