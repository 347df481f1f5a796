//! Who is calling: the bearer token, verified through the client library's one verification
//! path. JWTs are routed by their (unverified) `iss` to that issuer's [`TokenVerifier`], then
//! verified in full: an RFC 9068 access token (`typ: at+jwt`) with the access-token rules, any
//! other JWT as an ID token whose `aud` is a configured audience. Opaque tokens go to RFC 7662
//! introspection, or, only where an operator enabled it, to the userinfo endpoint — of the one
//! issuer they belong to (its `opaque_token_prefix`, or the only issuer taking opaque tokens),
//! never to every issuer in turn. A token that no configured issuer can vouch for is
//! `invalid_token`; a provider that cannot answer now (unreachable, 5xx, 429) is `503`, never a
//! verdict on the token. A 401's description is a fixed text with the stable reason, never the
//! provider's own words (they go to the debug log).
//!
//! Answers about opaque tokens are kept in an [`AnswerCache`] and asked within an
//! [`OutboundBudget`] ([`cache`]); the profile of an introspected token (email, name) comes from
//! the userinfo endpoint, asked once with it and kept with it.

mod bearer;
mod cache;

pub use bearer::Caller;
pub use cache::OutboundBudget;
pub(crate) use cache::{Answer, AnswerCache};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use sipauth::{
    AccessToken, HttpClient, Introspector, SharedClock, TokenVerifier, VerificationPolicy,
    VerifiedIdentity,
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
    /// The issuer's userinfo endpoint: the profile of introspected tokens, and, when
    /// [`IssuerConfig::userinfo_tokens`] is set, a verification path of its own.
    pub userinfo: Option<(HttpClient, url::Url)>,
    /// Accept opaque tokens that userinfo answers for (cannot check the audience).
    pub userinfo_tokens: bool,
    /// The prefix of this issuer's opaque tokens, when several issuers take them.
    pub opaque_prefix: Option<String>,
}

impl IssuerConfig {
    /// True when this issuer is asked about opaque tokens at all.
    fn takes_opaque(&self) -> bool {
        self.introspector.is_some() || self.userinfo_tokens
    }
}

/// How bearer tokens are checked: the trusted issuers, and what was learnt about opaque tokens.
#[derive(Debug)]
pub struct TokenCheck {
    /// The issuers.
    pub issuers: Vec<IssuerConfig>,
    cache: AnswerCache,
    budget: OutboundBudget,
}

pub(crate) fn unverified_iss(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_string)
}

fn refused(e: sipauth::Error) -> ApiError {
    tracing::debug!(error = %e, code = e.code(), "a bearer token was not accepted");
    if e.is_temporary() {
        ApiError::Unavailable("the identity provider cannot answer now".into())
    } else {
        ApiError::InvalidToken(reason(&e), refusal(&e))
    }
}

/// What a 401 says: a fixed text and the stable reason, never the provider's own words.
fn refusal(e: &sipauth::Error) -> String {
    format!("the token was not accepted ({})", reason(e))
}

/// The library's stable code for a refusal, as a bounded label.
pub(crate) fn reason(e: &sipauth::Error) -> &'static str {
    let code = e.code();
    sipauth::ErrorCode::parse(code).map_or("other", |c| c.as_str())
}

/// The longest bearer token taken (a JWT with many claims is a few KiB).
pub(crate) const MAX_TOKEN: usize = 16 * 1024;

impl TokenCheck {
    /// Checks tokens of `issuers`, with the default outbound budget.
    pub fn new(issuers: Vec<IssuerConfig>, clock: SharedClock) -> Self {
        Self::with_budget(issuers, clock, OutboundBudget::default())
    }

    /// Checks tokens of `issuers`, asking providers about opaque tokens within `budget`.
    pub fn with_budget(
        issuers: Vec<IssuerConfig>,
        clock: SharedClock,
        budget: OutboundBudget,
    ) -> Self {
        Self {
            issuers,
            cache: AnswerCache::new(clock),
            budget,
        }
    }

    /// The answers kept about opaque tokens.
    pub fn cache(&self) -> &AnswerCache {
        &self.cache
    }

    /// Verifies a bearer token.
    pub async fn verify(&self, token: &str) -> Result<VerifiedIdentity, ApiError> {
        self.verify_from(token, None).await
    }

    /// Verifies a bearer token presented by `client` (whose share of the outbound budget an
    /// opaque token spends).
    pub async fn verify_from(
        &self,
        token: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<VerifiedIdentity, ApiError> {
        if token.len() > MAX_TOKEN {
            return Err(ApiError::InvalidToken(
                "token_too_long",
                "the token is too long".into(),
            ));
        }
        let looks_like_jwt = token.split('.').count() == 3;
        if looks_like_jwt {
            let iss = unverified_iss(token).ok_or_else(|| {
                ApiError::InvalidToken("malformed", "the token is malformed".into())
            })?;
            let issuer = self
                .issuers
                .iter()
                .find(|i| i.verifier.issuer().accepts(&iss))
                .ok_or_else(|| {
                    ApiError::InvalidToken(
                        "untrusted_issuer",
                        "the token's issuer is not trusted here".into(),
                    )
                })?;
            // `at+jwt` by the access-token rules, any other JWT as an ID token for our audience.
            let policy = VerificationPolicy::bearer(issuer.audiences.clone());
            return issuer
                .verifier
                .verify_jwt(token, &policy)
                .await
                .map_err(refused);
        }
        let Some(issuer) = self.opaque_issuer(token) else {
            return Err(ApiError::InvalidToken(
                "opaque_not_accepted",
                "opaque tokens are not accepted here".into(),
            ));
        };
        match self
            .cache
            .get_or_ask(token, || self.ask(issuer, token, client))
            .await?
        {
            Answer::Accepted(identity) => Ok(identity),
            Answer::Refused(reason, why) => Err(ApiError::InvalidToken(reason, why)),
        }
    }

    /// The one issuer an opaque token belongs to: the one whose prefix it has, else the one
    /// issuer taking opaque tokens without a prefix (configuration allows at most one then).
    fn opaque_issuer(&self, token: &str) -> Option<&IssuerConfig> {
        let takers = || self.issuers.iter().filter(|i| i.takes_opaque());
        takers()
            .find(|i| {
                i.opaque_prefix
                    .as_deref()
                    .is_some_and(|p| token.starts_with(p))
            })
            .or_else(|| {
                let mut unprefixed = takers().filter(|i| i.opaque_prefix.is_none());
                match (unprefixed.next(), unprefixed.next()) {
                    (Some(only), None) => Some(only),
                    _ => None,
                }
            })
    }

    /// Asks `issuer` about an opaque token: a refusal is an answer (kept), an unreachable or
    /// busy provider or a spent budget an error (not kept).
    async fn ask(
        &self,
        issuer: &IssuerConfig,
        token: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<Answer, ApiError> {
        let token = AccessToken::new(token);
        let mut last = Answer::Refused(
            "unverifiable",
            "no configured issuer can verify this token".into(),
        );
        let policy = VerificationPolicy::access_token(issuer.audiences.clone());
        if let Some(introspector) = &issuer.introspector {
            self.budget.take_for(client)?;
            match introspector.introspect(&token, &policy).await {
                Ok(identity) => {
                    return Ok(Answer::Accepted(
                        self.profile(issuer, &token, identity).await,
                    ))
                }
                Err(e) if e.is_temporary() => return Err(refused(e)),
                Err(e) => last = Answer::Refused(reason(&e), refusal(&e)),
            }
        }
        if let (true, Some((http, endpoint))) = (issuer.userinfo_tokens, &issuer.userinfo) {
            self.budget.take_for(client)?;
            match sipauth::verify_by_userinfo(http, endpoint, &token, issuer.verifier.issuer())
                .await
            {
                Ok(identity) => return Ok(Answer::Accepted(identity)),
                Err(e) if e.is_temporary() => return Err(refused(e)),
                Err(e) => last = Answer::Refused(reason(&e), refusal(&e)),
            }
        }
        Ok(last)
    }

    /// Adds the profile claims (email, email_verified, name) of an introspected token from the
    /// issuer's userinfo endpoint, when it has one and the claims are missing. The subject must
    /// match; when userinfo fails, the introspection answer stands alone.
    async fn profile(
        &self,
        issuer: &IssuerConfig,
        token: &AccessToken,
        mut identity: VerifiedIdentity,
    ) -> VerifiedIdentity {
        let Some((http, endpoint)) = &issuer.userinfo else {
            return identity;
        };
        if identity.claims().contains_key("email") || self.budget.take().is_err() {
            return identity;
        }
        match sipauth::verify_by_userinfo(http, endpoint, token, issuer.verifier.issuer()).await {
            Ok(profile) => {
                if !identity.with_profile(profile) {
                    tracing::warn!("userinfo named another subject than introspection; ignored");
                }
            }
            Err(e) => tracing::debug!(error = %e, "no profile from userinfo"),
        }
        identity
    }
}
