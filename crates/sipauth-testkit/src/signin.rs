//! A real sign-in at the real oidc-provider, for tests that need its tokens (the service's API,
//! the command against a running service): discovery, the authorization code flow with PKCE
//! S256, state and nonce, the login and consent forms played by [`Browser`], and the code
//! exchanged at the token endpoint. The library's own sign-in is tested by the library; this
//! only obtains real tokens, so the testkit stays independent of it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::browser::Browser;

/// What a real sign-in gave.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// The ID token.
    pub id_token: String,
    /// The access token (opaque, or an RFC 9068 JWT for clients configured so).
    pub access_token: String,
}

/// 32 unpredictable bytes from the operating system's generator, base64url.
fn random_text() -> String {
    use p256::elliptic_curve::rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs `login` in at `issuer` as the public client `client_id` redirecting to `redirect`
/// (scopes `openid email profile`), and returns the tokens.
///
/// # Panics
/// When any step fails: the test needs the real provider's tokens.
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
pub async fn tokens_of(issuer: &str, client_id: &str, login: &str, redirect: &str) -> Tokens {
    let http = reqwest::Client::new();
    let discovery: serde_json::Value = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("discovery JSON");
    let endpoint = |k: &str| discovery[k].as_str().expect(k).to_string();
    let verifier = random_text();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = random_text();
    let mut authorize = url::Url::parse(&endpoint("authorization_endpoint")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "openid email profile")
        .append_pair("state", &state)
        .append_pair("nonce", &random_text())
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let callback = Browser::new()
        .unwrap()
        .sign_in(authorize.as_str(), login, redirect)
        .await
        .unwrap_or_else(|e| panic!("sign-in of {login}: {e}"));
    let callback = url::Url::parse(&callback).unwrap();
    let param = |k: &str| {
        callback
            .query_pairs()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.to_string())
    };
    assert_eq!(param("state").as_deref(), Some(state.as_str()), "state");
    let code = param("code").unwrap_or_else(|| panic!("no code in {callback}"));
    let answer: serde_json::Value = http
        .post(endpoint("token_endpoint"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", client_id),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token JSON");
    let text = |k: &str| {
        answer[k]
            .as_str()
            .unwrap_or_else(|| panic!("no {k} in the token answer: {answer}"))
            .to_string()
    };
    Tokens {
        id_token: text("id_token"),
        access_token: text("access_token"),
    }
}
