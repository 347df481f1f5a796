//! Who is calling: the bearer token, verified through the client library's one verification
//! path. JWTs are routed by their (unverified) `iss` to that issuer's [`TokenVerifier`], then
//! verified in full: an RFC 9068 access token (`typ: at+jwt`) with the access-token rules, any
//! other JWT as an ID token whose `aud` is a configured audience. Opaque tokens go to RFC 7662
//! introspection, or, only where an operator enabled it, to the userinfo endpoint. A token that
//! no configured issuer can vouch for is `invalid_token`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use sipauth::{
    AccessToken, HttpClient, Introspector, TokenVerifier, VerificationPolicy, VerifiedIdentity,
};

use crate::error::ApiError;

/// One trusted issuer.
#[derive(Debug)]
pub struct IssuerConfig {
    /// Its verifier (issuer and key cache).
    pub verifier: TokenVerifier,
    /// Client ids / resource identifiers a token must be issued to.
    pub audiences: Vec<String>,
    /// RFC 7662 introspection, for opaque tokens.
    pub introspector: Option<Introspector>,
    /// Userinfo, for opaque tokens, when explicitly allowed (cannot check the audience).
    pub userinfo: Option<(HttpClient, url::Url)>,
}

/// How bearer tokens are checked: the trusted issuers.
#[derive(Debug, Default)]
pub struct TokenCheck {
    /// The issuers.
    pub issuers: Vec<IssuerConfig>,
}

fn unverified_iss(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_string)
}

fn refused(e: sipauth::Error) -> ApiError {
    if e.is_network() {
        ApiError::Unavailable(e.to_string())
    } else {
        ApiError::InvalidToken(format!("{} [{}]", e, e.code()))
    }
}

impl TokenCheck {
    /// Verifies a bearer token.
    pub async fn verify(&self, token: &str) -> Result<VerifiedIdentity, ApiError> {
        let looks_like_jwt = token.split('.').count() == 3;
        if looks_like_jwt {
            let iss = unverified_iss(token)
                .ok_or_else(|| ApiError::InvalidToken("the token is malformed".into()))?;
            let issuer = self
                .issuers
                .iter()
                .find(|i| i.verifier.issuer().accepts(&iss))
                .ok_or_else(|| {
                    ApiError::InvalidToken("the token's issuer is not trusted here".into())
                })?;
            // `at+jwt` by the access-token rules, any other JWT as an ID token for our audience.
            let policy = VerificationPolicy::bearer(issuer.audiences.clone());
            return issuer
                .verifier
                .verify_jwt(token, &policy)
                .await
                .map_err(refused);
        }
        let token = AccessToken::new(token);
        let mut last = ApiError::InvalidToken("no configured issuer can verify this token".into());
        for issuer in &self.issuers {
            let policy = VerificationPolicy::access_token(issuer.audiences.clone());
            if let Some(introspector) = &issuer.introspector {
                match introspector.introspect(&token, &policy).await {
                    Ok(identity) => return Ok(identity),
                    Err(e) => last = refused(e),
                }
            }
            if let Some((http, endpoint)) = &issuer.userinfo {
                match sipauth::verify_by_userinfo(http, endpoint, &token, issuer.verifier.issuer())
                    .await
                {
                    Ok(identity) => return Ok(identity),
                    Err(e) => last = refused(e),
                }
            }
        }
        Err(last)
    }
}
