//! Verifying opaque access tokens, which carry nothing to check by themselves, by RFC 7662
//! introspection at the issuer ([`Introspector`]: `active` must be true, and the answer's `aud`
//! or `client_id` must be one of the policy's audiences). The other way, asking the issuer's
//! userinfo endpoint, is [`crate::oidc::verify_by_userinfo`]'s (it proves the token is live and
//! whose it is, but cannot say for whom it was issued).

use serde_json::{Map, Value};
use url::Url;

use super::{audiences, Issuer, VerificationPolicy, VerifiedBy, VerifiedIdentity};
use crate::clock::{secs, SharedClock};
use crate::error::{Endpoint, Error, VerificationError};
use crate::http::{HttpClient, HttpRequest};
use crate::secret::{AccessToken, ClientSecret};

/// An RFC 7662 introspection client: one endpoint, the resource server's own credentials.
#[derive(Debug)]
pub struct Introspector {
    endpoint: Url,
    http: HttpClient,
    client_id: String,
    client_secret: ClientSecret,
    issuer: Issuer,
    clock: SharedClock,
}

impl Introspector {
    /// A client of `endpoint`, authenticating with HTTP Basic as `client_id`.
    pub fn new(
        endpoint: Url,
        http: HttpClient,
        client_id: impl Into<String>,
        client_secret: ClientSecret,
        issuer: Issuer,
        clock: SharedClock,
    ) -> Self {
        Self {
            endpoint,
            http,
            client_id: client_id.into(),
            client_secret,
            issuer,
            clock,
        }
    }

    /// Asks the issuer about `token` and checks the answer against `policy`'s audiences.
    pub async fn introspect(
        &self,
        token: &AccessToken,
        policy: &VerificationPolicy,
    ) -> Result<VerifiedIdentity, Error> {
        use base64::Engine;
        // RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding.
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            enc(&self.client_id),
            enc(self.client_secret.secret())
        ));
        let request = HttpRequest::post(self.endpoint.clone())
            .header("authorization", format!("Basic {basic}"))
            .form([
                ("token", token.secret()),
                ("token_type_hint", "access_token"),
            ]);
        let raw = self.http.send(Endpoint::Introspection, request).await?;
        if !raw.is_success() {
            return Err(raw.endpoint_error(Endpoint::Introspection));
        }
        let Ok(Value::Object(mut answer)) = serde_json::from_slice::<Value>(&raw.body) else {
            return Err(raw.unusable(Endpoint::Introspection, "the answer is not a JSON object"));
        };
        Ok(self
            .check(&mut answer, policy)
            .map(|identity| identity.with(answer))?)
    }

    fn check(
        &self,
        answer: &mut Map<String, Value>,
        policy: &VerificationPolicy,
    ) -> Result<VerifiedIdentity, VerificationError> {
        if answer.get("active") != Some(&Value::Bool(true)) {
            return Err(VerificationError::InactiveToken);
        }
        let mut aud = audiences(answer.get("aud")).unwrap_or_default();
        if let Some(client) = answer.get("client_id").and_then(Value::as_str) {
            aud.push(client.to_string());
        }
        if !aud.iter().any(|a| policy.audiences.contains(a)) {
            return Err(VerificationError::AudienceMismatch);
        }
        let issuer = match answer.get("iss").and_then(Value::as_str) {
            Some(iss) => {
                self.issuer.check(iss, answer)?;
                iss.to_string()
            }
            None => self.issuer.as_str().to_string(),
        };
        let subject = answer
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(VerificationError::MissingClaim("sub"))?
            .to_string();
        let expires_at = answer.get("exp").and_then(Value::as_f64).map(|v| v as i64);
        let now = self.clock.now_unix();
        if let Some(exp) = expires_at {
            let leeway = secs(policy.leeway);
            if now > exp.saturating_add(leeway) {
                return Err(VerificationError::Expired { exp, now, leeway });
            }
        }
        for k in ["active", "iss", "sub", "aud", "exp"] {
            answer.remove(k);
        }
        Ok(VerifiedIdentity {
            issuer,
            subject,
            audiences: aud,
            expires_at,
            verified_by: VerifiedBy::Introspection,
            claims: Map::new(),
        })
    }
}

impl VerifiedIdentity {
    fn with(mut self, claims: Map<String, Value>) -> Self {
        self.claims = claims;
        self
    }
}
