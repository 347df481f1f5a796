//! ID-token verification against a loopback stub provider that signs with keys of our own, so
//! every rejection can be forged: bad signature, wrong audience, issuer, nonce, expiry, algorithm,
//! and key rotation (one refetch succeeds; a flood of unknown kids makes no fetch storm).

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};
use sipauth::{
    AuthorizationOptions, ClientRegistration, ClientSecret, Error, IdToken, ManualClock,
    OidcClient, ProviderConfig, SignIn,
};
use sipauth_testkit::browser::query_param;
use sipauth_testkit::keys::{self, TestKey};
use sipauth_testkit::stub::{Canned, Stub};

const CLIENT: &str = "stub-client";
const REDIRECT: &str = "http://127.0.0.1:4444/cb";

struct Harness {
    stub: Stub,
    key: TestKey,
    clock: ManualClock,
    client: OidcClient,
}

impl Harness {
    async fn new() -> Self {
        Self::with_secret(None).await
    }

    async fn with_secret(secret: Option<&str>) -> Self {
        let stub = Stub::start().await.unwrap();
        let key = TestKey::generate("key-1");
        stub.set("/jwks", Canned::json(200, TestKey::jwks(&[&key])));
        let registration = match secret {
            Some(s) => ClientRegistration::confidential(CLIENT, ClientSecret::new(s), REDIRECT),
            None => ClientRegistration::public(CLIENT, REDIRECT),
        };
        let mut provider =
            ProviderConfig::custom(registration, &stub.url("/authorize"), &stub.url("/token"))
                .unwrap()
                .with_scopes(["openid", "email"]);
        provider.issuer = Some(stub.base.clone());
        provider.jwks_uri = Some(stub.url("/jwks").parse().unwrap());
        provider.userinfo_endpoint = Some(stub.url("/userinfo").parse().unwrap());
        let clock = ManualClock::starting_now();
        let client = OidcClient::builder(provider)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        Self {
            stub,
            key,
            clock,
            client,
        }
    }

    fn now(&self) -> i64 {
        use sipauth::Clock;
        self.clock.now_unix()
    }

    /// Claims a correct ID token for this sign-in would have.
    fn good_claims(&self, nonce: &str) -> Value {
        json!({
            "iss": self.stub.base, "sub": "user-1", "aud": CLIENT, "nonce": nonce,
            "iat": self.now(), "exp": self.now() + 300, "email": "u1@example.com",
        })
    }

    /// Runs a sign-in whose token endpoint returns the ID token `forge` makes from the good claims.
    async fn sign_in_with(
        &self,
        forge: impl FnOnce(&Self, Value) -> String,
    ) -> Result<SignIn, Error> {
        let request = self
            .client
            .authorization_request(&AuthorizationOptions::default())
            .unwrap();
        let nonce = query_param(request.url.as_str(), "nonce").unwrap();
        let id_token = forge(self, self.good_claims(&nonce));
        self.stub.set(
            "/token",
            Canned::json(200, json!({
                "access_token": "at-1", "token_type": "Bearer", "expires_in": 300, "id_token": id_token
            })),
        );
        self.stub.set(
            "/userinfo",
            Canned::json(200, json!({"sub": "user-1", "email": "u1@example.com"})),
        );
        let callback = format!("{REDIRECT}?code=c1&state={}", request.state.secret());
        self.client.handle_callback(&callback).await
    }

    async fn expect_rejection(&self, code: &str, forge: impl FnOnce(&Self, Value) -> String) {
        let err = self.sign_in_with(forge).await.unwrap_err();
        assert_eq!(err.code(), code, "{err}");
        assert!(matches!(err, Error::Verification(_)), "{err:?}");
    }
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

#[tokio::test]
async fn accepts_a_correct_token_and_sends_pkce() {
    let h = Harness::new().await;
    let sign_in = h.sign_in_with(|h, c| h.key.sign(&c)).await.unwrap();
    let claims = sign_in.id_token.unwrap();
    assert_eq!(claims.claims().sub, "user-1");
    assert_eq!(claims.claims().string("email"), Some("u1@example.com"));
    let form = h.stub.requests("/token")[0].form();
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "c1");
    assert_eq!(form["redirect_uri"], REDIRECT);
    assert_eq!(form["client_id"], CLIENT);
    assert_eq!(form["code_verifier"].len(), 43);
    let userinfo = &h.stub.requests("/userinfo")[0];
    assert_eq!(userinfo.headers["authorization"], "Bearer at-1");
}

#[tokio::test]
async fn rejects_a_bad_signature() {
    let h = Harness::new().await;
    let impostor = TestKey::generate("key-1");
    h.expect_rejection("invalid_signature", |_, c| impostor.sign(&c))
        .await;
}

#[tokio::test]
async fn rejects_a_tampered_payload() {
    let h = Harness::new().await;
    h.expect_rejection("invalid_signature", |h, c| {
        let good = h.key.sign(&c);
        let other = h.key.sign(&with(c, "sub", json!("admin")));
        let parts: Vec<&str> = good.split('.').collect();
        let forged_body = other.split('.').nth(1).unwrap();
        format!("{}.{}.{}", parts[0], forged_body, parts[2])
    })
    .await;
}

#[tokio::test]
async fn rejects_the_wrong_audience() {
    let h = Harness::new().await;
    h.expect_rejection("invalid_audience", |h, c| {
        h.key.sign(&with(c, "aud", json!("other-client")))
    })
    .await;
}

#[tokio::test]
async fn rejects_several_audiences_without_our_azp() {
    let h = Harness::new().await;
    let both = json!([CLIENT, "other-client"]);
    h.expect_rejection("invalid_azp", |h, c| h.key.sign(&with(c, "aud", both)))
        .await;
    let h = Harness::new().await;
    h.expect_rejection("invalid_azp", |h, c| {
        h.key.sign(&with(c, "azp", json!("other-client")))
    })
    .await;
    let h = Harness::new().await;
    let both = json!([CLIENT, "other-client"]);
    h.sign_in_with(|h, c| {
        h.key
            .sign(&with(with(c, "aud", both), "azp", json!(CLIENT)))
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn rejects_the_wrong_issuer() {
    let h = Harness::new().await;
    h.expect_rejection("invalid_issuer", |h, c| {
        h.key.sign(&with(c, "iss", json!("https://evil.example")))
    })
    .await;
}

#[tokio::test]
async fn rejects_an_expired_token_beyond_the_leeway() {
    let h = Harness::new().await;
    let past = h.now() - 120;
    h.expect_rejection("id_token_expired", |h, c| {
        h.key.sign(&with(c, "exp", json!(past)))
    })
    .await;
    // 30 s late is inside the default 60 s leeway.
    let h = Harness::new().await;
    let late = h.now() - 30;
    h.sign_in_with(|h, c| h.key.sign(&with(c, "exp", json!(late))))
        .await
        .unwrap();
}

#[tokio::test]
async fn rejects_a_token_that_expires_while_the_clock_moves() {
    let h = Harness::new().await;
    let request = h
        .client
        .authorization_request(&AuthorizationOptions::default())
        .unwrap();
    let nonce = query_param(request.url.as_str(), "nonce").unwrap();
    let token = IdToken::new(h.key.sign(&h.good_claims(&nonce)));
    let verifier = h.client.id_token_verifier().unwrap();
    verifier.verify(&token, None).await.unwrap();
    h.clock.advance(Duration::from_secs(300 + 61));
    let err = verifier.verify(&token, None).await.unwrap_err();
    assert_eq!(err.code(), "id_token_expired");
}

#[tokio::test]
async fn rejects_iat_in_the_future_and_missing_claims() {
    let h = Harness::new().await;
    let future = h.now() + 600;
    h.expect_rejection("invalid_iat", |h, c| {
        h.key.sign(&with(c, "iat", json!(future)))
    })
    .await;
    let h = Harness::new().await;
    h.expect_rejection("missing_claim", |h, c| h.key.sign(&without(c, "sub")))
        .await;
    let h = Harness::new().await;
    h.expect_rejection("missing_claim", |h, c| h.key.sign(&without(c, "exp")))
        .await;
}

#[tokio::test]
async fn rejects_a_wrong_or_missing_nonce() {
    let h = Harness::new().await;
    h.expect_rejection("invalid_nonce", |h, c| {
        h.key.sign(&with(c, "nonce", json!("replayed")))
    })
    .await;
    let h = Harness::new().await;
    h.expect_rejection("invalid_nonce", |h, c| h.key.sign(&without(c, "nonce")))
        .await;
}

#[tokio::test]
async fn rejects_alg_none() {
    let h = Harness::new().await;
    h.expect_rejection("id_token_algorithm_not_allowed", |_, c| keys::unsigned(&c))
        .await;
}

#[tokio::test]
async fn rejects_hmac_for_a_public_client() {
    // The attacker signs with HMAC using something public as the "secret".
    let h = Harness::new().await;
    h.expect_rejection("id_token_algorithm_not_allowed", |_, c| {
        keys::hs256(&c, CLIENT.as_bytes())
    })
    .await;
}

#[tokio::test]
async fn accepts_hmac_for_a_confidential_client_with_its_secret_only() {
    let secret = "a-confidential-secret-of-32-bytes!!";
    let h = Harness::with_secret(Some(secret)).await;
    h.sign_in_with(|_, c| keys::hs256(&c, secret.as_bytes()))
        .await
        .unwrap();
    let h = Harness::with_secret(Some(secret)).await;
    h.expect_rejection("invalid_signature", |_, c| {
        keys::hs256(&c, b"another-secret-another-secret!!")
    })
    .await;
}

#[tokio::test]
async fn rejects_a_userinfo_subject_that_differs() {
    let h = Harness::new().await;
    let request = h
        .client
        .authorization_request(&AuthorizationOptions::default())
        .unwrap();
    let nonce = query_param(request.url.as_str(), "nonce").unwrap();
    let id_token = h.key.sign(&h.good_claims(&nonce));
    h.stub.set(
        "/token",
        Canned::json(
            200,
            json!({"access_token": "at", "token_type": "Bearer", "id_token": id_token}),
        ),
    );
    h.stub.set(
        "/userinfo",
        Canned::json(200, json!({"sub": "someone-else"})),
    );
    let callback = format!("{REDIRECT}?code=c&state={}", request.state.secret());
    let err = h.client.handle_callback(&callback).await.unwrap_err();
    assert_eq!(err.code(), "subject_mismatch");
}

#[tokio::test]
async fn rejects_a_missing_id_token_when_openid_was_requested() {
    let h = Harness::new().await;
    let request = h
        .client
        .authorization_request(&AuthorizationOptions::default())
        .unwrap();
    h.stub.set(
        "/token",
        Canned::json(200, json!({"access_token": "at", "token_type": "Bearer"})),
    );
    let callback = format!("{REDIRECT}?code=c&state={}", request.state.secret());
    let err = h.client.handle_callback(&callback).await.unwrap_err();
    assert_eq!(err.code(), "missing_id_token");
}

#[tokio::test]
async fn rejects_an_expired_pending_sign_in() {
    let h = Harness::new().await;
    let request = h
        .client
        .authorization_request(&AuthorizationOptions::default())
        .unwrap();
    h.clock.advance(Duration::from_secs(601));
    let callback = format!("{REDIRECT}?code=c&state={}", request.state.secret());
    let err = h.client.handle_callback(&callback).await.unwrap_err();
    assert_eq!(err.code(), "invalid_state");
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(
        !err.to_string().contains("Expired"),
        "no Rust debug text: {err}"
    );
    assert_eq!(
        h.stub.hits("/token"),
        0,
        "no code exchange for a refused state"
    );
}

#[tokio::test]
async fn rejects_a_callback_without_code_or_state() {
    let h = Harness::new().await;
    let request = h
        .client
        .authorization_request(&AuthorizationOptions::default())
        .unwrap();
    let err = h
        .client
        .handle_callback(&format!("{REDIRECT}?code=c"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_state");
    let err = h
        .client
        .handle_callback(&format!("{REDIRECT}?state={}", request.state.secret()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "missing_code");
}

#[tokio::test]
async fn refetches_once_after_key_rotation_and_never_storms() {
    let h = Harness::new().await;
    h.sign_in_with(|h, c| h.key.sign(&c)).await.unwrap();
    assert_eq!(h.stub.hits("/jwks"), 1);

    // The provider rotates to a new key: the unknown kid triggers exactly one refetch.
    let rotated = TestKey::generate("key-2");
    h.stub
        .set("/jwks", Canned::json(200, TestKey::jwks(&[&rotated])));
    h.sign_in_with(|_, c| rotated.sign(&c)).await.unwrap();
    assert_eq!(h.stub.hits("/jwks"), 2);

    // A flood of tokens with kids nobody published, all at once: no further fetch.
    let verifier = h.client.id_token_verifier().unwrap();
    let claims = h.good_claims("n");
    let forged: Vec<IdToken> = (0..200)
        .map(|i| IdToken::new(rotated.sign_as(&claims, &format!("forged-{i}"))))
        .collect();
    let results = join_all(forged.iter().map(|t| verifier.verify(t, None))).await;
    assert!(results
        .iter()
        .all(|r| matches!(r, Err(e) if e.code() == "unknown_signing_key")));
    assert_eq!(h.stub.hits("/jwks"), 2, "rate limited: no fetch storm");

    // Once the interval has passed, one more refetch is allowed.
    h.clock.advance(Duration::from_secs(61));
    let err = verifier.verify(&forged[0], None).await.unwrap_err();
    assert_eq!(err.code(), "unknown_signing_key");
    assert_eq!(h.stub.hits("/jwks"), 3);
}

#[tokio::test]
async fn concurrent_verifications_after_rotation_share_one_refetch() {
    let h = Harness::new().await;
    h.sign_in_with(|h, c| h.key.sign(&c)).await.unwrap();
    let rotated = TestKey::generate("key-2");
    h.stub
        .set("/jwks", Canned::json(200, TestKey::jwks(&[&rotated])));
    let token = IdToken::new(rotated.sign(&h.good_claims("n")));
    let verifier = h.client.id_token_verifier().unwrap();
    let results = join_all((0..100).map(|_| verifier.verify(&token, None))).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(h.stub.hits("/jwks"), 2);
}

#[tokio::test]
async fn skips_encryption_keys_and_unknown_key_types_in_the_jwks() {
    // Keycloak publishes RSA-OAEP encryption keys beside its signing keys, sometimes with the
    // same kid; an unknown key type must not break the whole set either.
    let h = Harness::new().await;
    let mut jwks = TestKey::jwks(&[&h.key]);
    let keys = jwks["keys"].as_array_mut().unwrap();
    keys.insert(0, json!({"kty": "RSA", "use": "enc", "alg": "RSA-OAEP", "kid": "key-1", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"}));
    keys.insert(0, json!({"kty": "oct-future", "kid": "odd", "k": "x"}));
    h.stub.set("/jwks", Canned::json(200, jwks));
    h.sign_in_with(|h, c| h.key.sign(&c)).await.unwrap();
}

#[tokio::test]
async fn rejects_a_token_with_an_unknown_critical_header() {
    let h = Harness::new().await;
    h.expect_rejection("unsupported_critical_header", |h, claims| {
        h.key.sign_with_header(&claims, |header| {
            header.crit = Some(vec!["exp-ext".into()]);
        })
    })
    .await;
}

#[tokio::test]
async fn rejects_an_access_token_offered_as_an_id_token() {
    let h = Harness::new().await;
    for typ in ["at+jwt", "application/at+jwt", "AT+JWT"] {
        h.expect_rejection("invalid_token_type", |h, claims| {
            h.key
                .sign_with_header(&claims, |header| header.typ = Some(typ.into()))
        })
        .await;
    }
    // Plain JWT typing stays accepted.
    h.sign_in_with(|h, claims| {
        h.key
            .sign_with_header(&claims, |header| header.typ = Some("JWT".into()))
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn rejects_a_signature_by_an_rsa_key_under_2048_bits() {
    use base64::Engine;
    let h = Harness::new().await;
    // A published 1024-bit RSA key: refused before any signature check.
    let mut modulus = vec![0xc3u8; 128];
    modulus[127] |= 1;
    let weak = json!({
        "kty": "RSA", "kid": "weak", "use": "sig", "alg": "RS256", "e": "AQAB",
        "n": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&modulus)
    });
    h.stub.set(
        "/jwks",
        Canned::json(200, json!({"keys": [h.key.jwk(), weak]})),
    );
    h.expect_rejection("weak_signing_key", |_, claims| {
        use base64::Engine;
        let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.{}",
            enc(br#"{"alg":"RS256","kid":"weak"}"#),
            enc(claims.to_string().as_bytes()),
            enc(&[0u8; 128])
        )
    })
    .await;
}

#[tokio::test]
async fn an_unknown_kid_right_after_a_fetch_gets_one_refetch() {
    let h = Harness::new().await;
    // The first fetch serves a stale set without the new key; the refetch has it.
    let rotated = TestKey::generate("key-2");
    h.stub
        .set("/jwks", Canned::json(200, TestKey::jwks(&[&h.key])));
    let stub = h.stub.clone();
    let jwks_after = TestKey::jwks(&[&h.key, &rotated]);
    let signed = |claims: &Value| rotated.sign(claims);
    // Swap the key set as soon as the first fetch has happened.
    let watcher = tokio::spawn(async move {
        while stub.hits("/jwks") == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        stub.set("/jwks", Canned::json(200, jwks_after));
    });
    h.stub.set(
        "/jwks",
        Canned::json(200, TestKey::jwks(&[&h.key])).delayed(Duration::from_millis(50)),
    );
    let result = h.sign_in_with(|_, claims| signed(&claims)).await;
    watcher.await.unwrap();
    result.unwrap();
    assert_eq!(h.stub.hits("/jwks"), 2, "one fetch, one refetch");
}

/// The service's verifier: the same issuer and key cache, an access-token policy.
fn access_verifier(h: &Harness) -> sipauth::TokenVerifier {
    let jwks = sipauth::JwksCache::new(
        h.stub.url("/jwks").parse().unwrap(),
        sipauth::HttpClient::new().unwrap(),
        Arc::new(h.clock.clone()),
        sipauth::VerifyOptions::default(),
    );
    sipauth::TokenVerifier::new(
        sipauth::Issuer::new(h.stub.base.clone()),
        Some(jwks),
        Arc::new(h.clock.clone()),
    )
}

fn access_claims(h: &Harness, aud: &str) -> Value {
    json!({
        "iss": h.stub.base, "sub": "user-1", "aud": aud, "client_id": "softphone",
        "iat": h.now(), "exp": h.now() + 300, "jti": "j1", "email": "u1@example.com"
    })
}

#[tokio::test]
async fn an_rfc9068_access_token_verifies_as_an_access_token_only() {
    let h = Harness::new().await;
    let verifier = access_verifier(&h);
    let policy = sipauth::VerificationPolicy::access_token(["https://voip.example.com/api"]);
    let at = h
        .key
        .sign_with_header(&access_claims(&h, "https://voip.example.com/api"), |hd| {
            hd.typ = Some("at+jwt".into())
        });
    let identity = verifier.verify_jwt(&at, &policy).await.unwrap();
    assert_eq!(identity.subject(), "user-1");
    assert_eq!(identity.issuer(), h.stub.base);
    assert_eq!(identity.verified_by(), sipauth::VerifiedBy::JwtAccessToken);
    assert_eq!(identity.string("email"), Some("u1@example.com"));
    // The same token is no ID token.
    let id_policy = sipauth::VerificationPolicy::id_token("https://voip.example.com/api");
    let err = verifier.verify_jwt(&at, &id_policy).await.unwrap_err();
    assert_eq!(err.code(), "invalid_token_type");
}

#[tokio::test]
async fn rejects_an_id_token_offered_as_an_access_token() {
    let h = Harness::new().await;
    let verifier = access_verifier(&h);
    let policy = sipauth::VerificationPolicy::access_token([CLIENT]);
    let id_token = h.key.sign(&h.good_claims("n"));
    let err = verifier.verify_jwt(&id_token, &policy).await.unwrap_err();
    assert_eq!(err.code(), "invalid_token_type");
}

#[tokio::test]
async fn rejects_an_access_token_for_another_audience_or_issuer() {
    let h = Harness::new().await;
    let verifier = access_verifier(&h);
    let policy = sipauth::VerificationPolicy::access_token(["https://voip.example.com/api"]);
    let typed = |claims: &Value| {
        h.key
            .sign_with_header(claims, |hd| hd.typ = Some("at+jwt".into()))
    };
    let other = typed(&access_claims(&h, "https://mail.example.com/api"));
    assert_eq!(
        verifier
            .verify_jwt(&other, &policy)
            .await
            .unwrap_err()
            .code(),
        "invalid_audience"
    );
    let foreign = typed(&with(
        access_claims(&h, "https://voip.example.com/api"),
        "iss",
        json!("https://evil.example"),
    ));
    assert_eq!(
        verifier
            .verify_jwt(&foreign, &policy)
            .await
            .unwrap_err()
            .code(),
        "invalid_issuer"
    );
    let expired = typed(&with(
        access_claims(&h, "https://voip.example.com/api"),
        "exp",
        json!(h.now() - 120),
    ));
    assert_eq!(
        verifier
            .verify_jwt(&expired, &policy)
            .await
            .unwrap_err()
            .code(),
        "id_token_expired"
    );
    // HS256 is never accepted for access tokens, whatever the policy holds.
    let mut hmac_policy = policy.clone();
    hmac_policy.hmac_secret = Some(ClientSecret::new("s"));
    let hs = keys::hs256(&access_claims(&h, "https://voip.example.com/api"), b"s");
    assert!(verifier.verify_jwt(&hs, &hmac_policy).await.is_err());
}

#[tokio::test]
async fn a_bearer_policy_checks_each_token_by_its_type() {
    let h = Harness::new().await;
    let verifier = access_verifier(&h);
    let policy = sipauth::VerificationPolicy::bearer([CLIENT]);
    let at = h.key.sign_with_header(&access_claims(&h, CLIENT), |hd| {
        hd.typ = Some("at+jwt".into())
    });
    let by_at = verifier.verify_jwt(&at, &policy).await.unwrap();
    assert_eq!(by_at.verified_by(), sipauth::VerifiedBy::JwtAccessToken);
    let id_token = h.key.sign(&h.good_claims("n"));
    let by_id = verifier.verify_jwt(&id_token, &policy).await.unwrap();
    assert_eq!(by_id.verified_by(), sipauth::VerifiedBy::IdToken);
    let other = h
        .key
        .sign_with_header(&h.good_claims("n"), |hd| hd.typ = Some("dpop+jwt".into()));
    assert_eq!(
        verifier
            .verify_jwt(&other, &policy)
            .await
            .unwrap_err()
            .code(),
        "invalid_token_type"
    );
    // HS256 is never a bearer token here, whatever the policy holds.
    let mut hmac_policy = policy.clone();
    hmac_policy.hmac_secret = Some(ClientSecret::new("s"));
    let hs = keys::hs256(&h.good_claims("n"), b"s");
    assert!(verifier.verify_jwt(&hs, &hmac_policy).await.is_err());
}

#[tokio::test]
async fn rejects_a_bearer_id_token_issued_to_another_client() {
    let h = Harness::new().await;
    let verifier = access_verifier(&h);
    let policy = sipauth::VerificationPolicy::bearer([CLIENT]);
    let code = |token: String| {
        let (verifier, policy) = (&verifier, &policy);
        async move {
            verifier
                .verify_jwt(&token, policy)
                .await
                .map(|_| ())
                .map_err(|e| e.code().to_string())
        }
    };
    // Issued to another client that listed us among its audiences.
    let foreign = with(
        with(h.good_claims("n"), "aud", json!([CLIENT, "other-app"])),
        "azp",
        json!("other-app"),
    );
    assert_eq!(code(h.key.sign(&foreign)).await.unwrap_err(), "invalid_azp");
    // Several audiences and no azp: whose is it?
    let ambiguous = with(h.good_claims("n"), "aud", json!([CLIENT, "other-app"]));
    assert_eq!(
        code(h.key.sign(&ambiguous)).await.unwrap_err(),
        "invalid_azp"
    );
    // azp of the wrong type.
    let odd = with(h.good_claims("n"), "azp", json!(7));
    assert_eq!(code(h.key.sign(&odd)).await.unwrap_err(), "invalid_azp");
    // Ours: azp is our client, or absent with one audience.
    let ours = with(
        with(h.good_claims("n"), "aud", json!([CLIENT, "other-app"])),
        "azp",
        json!(CLIENT),
    );
    code(h.key.sign(&ours)).await.unwrap();
    code(h.key.sign(&h.good_claims("n"))).await.unwrap();
}

#[tokio::test]
async fn rejects_refetching_a_failing_key_set_on_every_request() {
    let h = Harness::new().await;
    let verifier = access_verifier(&h);
    let policy = sipauth::VerificationPolicy::bearer([CLIENT]);
    let token = h.key.sign(&h.good_claims("n"));
    verifier.verify_jwt(&token, &policy).await.unwrap();
    assert_eq!(h.stub.hits("/jwks"), 1);
    // The set grows old and the provider fails: the cached keys keep verifying, and the
    // failing refresh is not repeated on every request.
    h.stub
        .set("/jwks", Canned::json(500, json!({"error": "down"})));
    h.clock.advance(Duration::from_secs(3_601));
    let token = h.key.sign(&h.good_claims("n"));
    for _ in 0..50 {
        verifier.verify_jwt(&token, &policy).await.unwrap();
    }
    assert_eq!(h.stub.hits("/jwks"), 2, "one refresh attempt");
    // After the backoff, one more attempt; then the provider is back and the set is fresh.
    h.clock.advance(Duration::from_secs(1));
    verifier.verify_jwt(&token, &policy).await.unwrap();
    assert_eq!(h.stub.hits("/jwks"), 3);
    h.stub
        .set("/jwks", Canned::json(200, TestKey::jwks(&[&h.key])));
    h.clock.advance(Duration::from_secs(2));
    verifier.verify_jwt(&token, &policy).await.unwrap();
    assert_eq!(h.stub.hits("/jwks"), 4);
    for _ in 0..10 {
        verifier.verify_jwt(&token, &policy).await.unwrap();
    }
    assert_eq!(h.stub.hits("/jwks"), 4, "fresh again: no more fetches");
}

#[tokio::test]
async fn rejects_a_request_storm_at_a_provider_whose_keys_never_loaded() {
    let h = Harness::new().await;
    h.stub
        .set("/jwks", Canned::json(503, json!({"error": "down"})));
    let verifier = access_verifier(&h);
    let policy = sipauth::VerificationPolicy::bearer([CLIENT]);
    let token = h.key.sign(&h.good_claims("n"));
    let results = join_all((0..50).map(|_| verifier.verify_jwt(&token, &policy))).await;
    assert!(results
        .iter()
        .all(|r| matches!(r, Err(e) if e.is_temporary())));
    assert_eq!(
        h.stub.hits("/jwks"),
        1,
        "one fetch, then the backoff answers"
    );
}

// Back-Channel Logout 1.0 logout tokens: the same verification path, their own policy.

fn logout_claims(h: &Harness) -> Value {
    json!({
        "iss": h.stub.base, "aud": CLIENT, "iat": h.now(), "exp": h.now() + 120,
        "jti": "logout-1", "sub": "user-1", "sid": "session-1",
        "events": {sipauth::BACKCHANNEL_LOGOUT_EVENT: {}}
    })
}

async fn verify_logout(h: &Harness, token: &str) -> Result<sipauth::VerifiedLogout, Error> {
    access_verifier(h)
        .verify_logout_token(token, &[CLIENT.to_string()], Duration::from_secs(300))
        .await
}

#[tokio::test]
async fn a_logout_token_names_who_the_provider_logged_out() {
    let h = Harness::new().await;
    let typed = h
        .key
        .sign_with_header(&logout_claims(&h), |hd| hd.typ = Some("logout+jwt".into()));
    let logout = verify_logout(&h, &typed).await.unwrap();
    assert_eq!(logout.issuer(), h.stub.base);
    assert_eq!(logout.subject(), Some("user-1"));
    assert_eq!(logout.session_id(), Some("session-1"));
    assert_eq!(logout.jti(), "logout-1");
    // Untyped, and with only `sid` (no `exp`: it lives as long as it is accepted).
    let only_sid = without(without(logout_claims(&h), "sub"), "exp");
    let logout = verify_logout(&h, &h.key.sign(&only_sid)).await.unwrap();
    assert_eq!(logout.subject(), None);
    assert!(logout.expires_at() >= h.now() + 300);
    // A logout token is no ID token, nor access token, to the other policies.
    let err = access_verifier(&h)
        .verify_jwt(&typed, &sipauth::VerificationPolicy::id_token(CLIENT))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_token_type");
}

#[tokio::test]
async fn rejects_logout_tokens_that_break_the_spec() {
    let h = Harness::new().await;
    let event = json!({sipauth::BACKCHANNEL_LOGOUT_EVENT: {}});
    for (claims, code) in [
        (without(logout_claims(&h), "events"), "invalid_logout_token"),
        (
            with(
                logout_claims(&h),
                "events",
                json!({"http://example.com/other": {}}),
            ),
            "invalid_logout_token",
        ),
        (
            with(
                logout_claims(&h),
                "events",
                json!({sipauth::BACKCHANNEL_LOGOUT_EVENT: "yes"}),
            ),
            "invalid_logout_token",
        ),
        (
            with(logout_claims(&h), "nonce", json!("n")),
            "invalid_logout_token",
        ),
        (
            without(without(logout_claims(&h), "sub"), "sid"),
            "invalid_logout_token",
        ),
        (without(logout_claims(&h), "jti"), "missing_claim"),
        (
            with(logout_claims(&h), "aud", json!("another-client")),
            "invalid_audience",
        ),
        (
            with(logout_claims(&h), "iss", json!("https://evil.example")),
            "invalid_issuer",
        ),
        (
            with(logout_claims(&h), "iat", json!(h.now() - 3600)),
            "invalid_logout_token",
        ),
        (
            with(logout_claims(&h), "iat", json!(h.now() + 3600)),
            "invalid_iat",
        ),
        (
            with(
                with(logout_claims(&h), "exp", json!(h.now() - 600)),
                "events",
                event.clone(),
            ),
            "id_token_expired",
        ),
    ] {
        let err = verify_logout(&h, &h.key.sign(&claims)).await.unwrap_err();
        assert_eq!(err.code(), code, "{claims}");
    }
    // An access token is never a logout token.
    let at = h
        .key
        .sign_with_header(&logout_claims(&h), |hd| hd.typ = Some("at+jwt".into()));
    assert_eq!(
        verify_logout(&h, &at).await.unwrap_err().code(),
        "invalid_token_type"
    );
    // A forged signature.
    let other = TestKey::generate("key-1");
    assert_eq!(
        verify_logout(&h, &other.sign(&logout_claims(&h)))
            .await
            .unwrap_err()
            .code(),
        "invalid_signature"
    );
}
