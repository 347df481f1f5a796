//! Token verification: the one path for the client's sign-in and for the provisioning service.
//! A [`TokenVerifier`] holds one [`Issuer`] and its [`JwksCache`]; a [`VerificationPolicy`]
//! says what a token must be (an ID token for this client, or an RFC 9068 access token for these
//! audiences) and the answer is a [`VerifiedIdentity`]: issuer, subject, claims, expiry, and how
//! it was verified. Opaque access tokens are verified by RFC 7662 introspection or by the
//! userinfo endpoint ([`Introspector`], [`crate::oidc::verify_by_userinfo`]).
//!
//! A JWT is checked in this order: the header (well-formed; no `crit` extensions, RFC 7515
//! §4.1.11; explicit typing, RFC 8725 §3.11: `at+jwt` only as an access token, RFC 9068 §4),
//! the algorithm against the allowlist (never `none`; HS256 only with a client secret), the key
//! (by kid, from the JWKS; RSA at least 2048 bits), the signature (jsonwebtoken's), then the
//! claims on our own clock with a leeway: `iss`, `sub`, `aud`, `azp` and nonce for ID tokens,
//! `exp`, `iat`, `nbf`. Nothing is hand-rolled.

#[cfg(feature = "native")]
mod crypto;
mod introspection;
mod jwks;
#[cfg(feature = "native")]
mod sealed;

use std::collections::HashSet;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::provider::Issuer;
pub use introspection::Introspector;
pub use jwks::JwksCache;
#[cfg(feature = "native")]
pub use sealed::{SealError, SealedIdentity, SealingKey};

use crate::clock::{secs, SharedClock};
use crate::error::{Error, VerificationError};
use crate::provider::ProviderConfig;
use crate::secret::{ClientSecret, IdToken, Nonce};

/// Algorithms accepted for ID tokens signed with the provider's keys. Never `none`.
pub(crate) const ASYMMETRIC_ALGORITHMS: &[&str] = &["RS256", "PS256", "ES256", "EdDSA"];

/// Tuning for verification and the key cache.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Allowed clock skew for `exp`, `iat` and `nbf` (default 60 s).
    pub leeway: Duration,
    /// Minimum time between refetches caused by unknown kids (default 60 s).
    pub min_refetch_interval: Duration,
    /// Refetch the key set when it is older than this (default 1 h).
    pub max_key_age: Duration,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            leeway: Duration::from_secs(60),
            min_refetch_interval: Duration::from_secs(60),
            max_key_age: Duration::from_secs(3600),
        }
    }
}

/// What a token must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenKind {
    /// An OpenID Connect ID token (`typ` absent or `JWT`).
    IdToken,
    /// An RFC 9068 JWT access token (`typ` `at+jwt`).
    AccessToken,
    /// Whatever a bearer token presented to a service is, by its explicit type: `at+jwt` is
    /// checked as an access token, an untyped (or `JWT`) token as an ID token for one of the
    /// audiences (no nonce: there is no sign-in to compare with; `azp`, when present, must be
    /// one of the audiences, and a token for several audiences must have it). Access tokens
    /// (RFC 9068) are the recommended kind.
    Bearer,
    /// An OpenID Connect Back-Channel Logout 1.0 logout token (`typ` `logout+jwt`, `JWT` or
    /// absent): see [`TokenVerifier::verify_logout_token`].
    LogoutToken,
}

/// What a token must satisfy.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerificationPolicy {
    /// ID token or access token.
    pub kind: TokenKind,
    /// `aud` must contain one of these.
    pub audiences: Vec<String>,
    /// Allowed skew for `exp`, `iat` and `nbf`.
    pub leeway: Duration,
    /// ID tokens: the nonce of the sign-in that asked for it (`None`: not checked, e.g. after a
    /// refresh).
    pub nonce: Option<Nonce>,
    /// ID tokens: when `azp` is present it must be this; with several audiences it must be
    /// present.
    pub authorized_party: Option<String>,
    /// The client secret, which alone allows HS256 (confidential clients); never for access
    /// tokens.
    pub hmac_secret: Option<ClientSecret>,
}

impl VerificationPolicy {
    /// An ID token for this client (`aud` and `azp` are the client id).
    pub fn id_token(client_id: impl Into<String>) -> Self {
        let client_id = client_id.into();
        Self {
            kind: TokenKind::IdToken,
            authorized_party: Some(client_id.clone()),
            ..Self::access_token([client_id])
        }
    }

    /// An RFC 9068 access token for one of these audiences.
    pub fn access_token<I, S>(audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            kind: TokenKind::AccessToken,
            audiences: audiences.into_iter().map(Into::into).collect(),
            leeway: VerifyOptions::default().leeway,
            nonce: None,
            authorized_party: None,
            hmac_secret: None,
        }
    }

    /// A bearer token for one of these audiences, checked as what its type says it is (see
    /// [`TokenKind::Bearer`]).
    pub fn bearer<I, S>(audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            kind: TokenKind::Bearer,
            ..Self::access_token(audiences)
        }
    }

    /// With this nonce.
    pub fn with_nonce(mut self, nonce: Option<Nonce>) -> Self {
        self.nonce = nonce;
        self
    }

    /// With this leeway.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }
}

/// How an identity was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum VerifiedBy {
    /// An ID token's signature and claims.
    IdToken,
    /// An RFC 9068 access token's signature and claims.
    JwtAccessToken,
    /// RFC 7662 introspection at the issuer.
    Introspection,
    /// The issuer's userinfo endpoint answered for the token (no audience check possible).
    UserInfo,
}

/// Who a verified token speaks for: the proof that verification happened. Only this library's
/// verification paths make one ([`TokenVerifier`], introspection, userinfo verification, and a
/// completed sign-in's [`SignIn::identity`](crate::SignIn::identity)); its fields are read
/// through accessors, so no other code can mint or alter one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifiedIdentity {
    pub(crate) issuer: String,
    pub(crate) subject: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) expires_at: Option<i64>,
    pub(crate) verified_by: VerifiedBy,
    pub(crate) claims: Map<String, Value>,
}

impl VerifiedIdentity {
    /// An identity for tests of code downstream (a provisioner, a service): only with the
    /// `testing` feature, which no production build enables.
    #[cfg(feature = "testing")]
    pub fn for_testing(
        issuer: impl Into<String>,
        subject: impl Into<String>,
        verified_by: VerifiedBy,
        claims: Map<String, Value>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            subject: subject.into(),
            audiences: Vec::new(),
            expires_at: None,
            verified_by,
            claims,
        }
    }

    /// The issuer, as the token named it.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The subject: with the issuer, the stable key of a person.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The audiences the token was issued for (empty when unknown: userinfo).
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// When the token expires (Unix seconds), when known.
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }

    /// How it was verified.
    pub fn verified_by(&self) -> VerifiedBy {
        self.verified_by
    }

    /// Every other claim (email, email_verified, name, tid, groups, ...).
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// A string claim.
    pub fn string(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// Adds the claims of `profile` that this identity lacks (an introspected token's email and
    /// name from userinfo), when `profile` is the same person: same issuer and subject.
    /// Otherwise nothing changes and the answer is false.
    pub fn with_profile(&mut self, profile: VerifiedIdentity) -> bool {
        if profile.issuer != self.issuer || profile.subject != self.subject {
            return false;
        }
        for (k, v) in profile.claims {
            self.claims.entry(k).or_insert(v);
        }
        true
    }
}

/// A JWT's header, as far as verification needs it.
#[derive(Debug)]
struct Header {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
}

fn read_header(raw: &str) -> Result<Header, VerificationError> {
    let malformed = |m: &str| VerificationError::Malformed(m.to_string());
    let mut parts = raw.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("not three dot-separated parts"));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| malformed("header is not base64url"))?;
    let header: Value =
        serde_json::from_slice(&bytes).map_err(|_| malformed("header is not JSON"))?;
    let text = |k: &str| header.get(k).and_then(Value::as_str).map(str::to_string);
    let alg = text("alg").ok_or_else(|| malformed("header has no alg"))?;
    // RFC 7515 §4.1.11: extensions listed in `crit` MUST be understood; we implement none.
    if let Some(crit) = header.get("crit") {
        return Err(VerificationError::UnsupportedCritical(crit.to_string()));
    }
    let typ = text("typ").map(|t| {
        let t = t.to_ascii_lowercase();
        t.strip_prefix("application/").unwrap_or(&t).to_string()
    });
    Ok(Header {
        alg,
        kid: text("kid"),
        typ,
    })
}

/// Verifies JWTs of one issuer.
#[derive(Debug)]
pub struct TokenVerifier {
    issuer: Issuer,
    jwks: Option<JwksCache>,
    clock: SharedClock,
}

impl TokenVerifier {
    /// A verifier for tokens of `issuer`, with its keys (`None`: only HS256 ID tokens of a
    /// confidential client can be verified).
    pub fn new(issuer: Issuer, jwks: Option<JwksCache>, clock: SharedClock) -> Self {
        Self {
            issuer,
            jwks,
            clock,
        }
    }

    /// The issuer.
    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// The key cache, if any.
    pub fn jwks(&self) -> Option<&JwksCache> {
        self.jwks.as_ref()
    }

    /// Verifies a JWT against a policy.
    pub async fn verify_jwt(
        &self,
        raw: &str,
        policy: &VerificationPolicy,
    ) -> Result<VerifiedIdentity, Error> {
        if policy.kind == TokenKind::LogoutToken {
            return Err(VerificationError::WrongTokenType("logout+jwt".into()).into());
        }
        let (claims, kind) = self.decode(raw, policy).await?;
        Ok(self.check_claims(claims, policy, kind)?)
    }

    /// Verifies an OpenID Connect Back-Channel Logout 1.0 logout token (§2.6) for one of
    /// `audiences`: the header, algorithm, key and signature as for an ID token; `iss`; `aud`;
    /// `iat` within `max_age` (and not in the future); `exp` when present; `jti`; the
    /// back-channel logout event in `events`; `sub` and/or `sid`; and no `nonce` (an ID token
    /// is never a logout token). Replay of `jti` is the caller's to refuse, while the token
    /// lives ([`VerifiedLogout::expires_at`]).
    pub async fn verify_logout_token(
        &self,
        raw: &str,
        audiences: &[String],
        max_age: Duration,
    ) -> Result<VerifiedLogout, Error> {
        let policy = VerificationPolicy {
            kind: TokenKind::LogoutToken,
            ..VerificationPolicy::access_token(audiences.iter().cloned())
        };
        let (claims, _) = self.decode(raw, &policy).await?;
        Ok(self.check_logout(claims, &policy, max_age)?)
    }

    /// The header, algorithm, key and signature of a JWT: its claims, and what kind it is.
    async fn decode(
        &self,
        raw: &str,
        policy: &VerificationPolicy,
    ) -> Result<(Map<String, Value>, TokenKind), Error> {
        let header = read_header(raw)?;
        // RFC 8725 §3.11, RFC 9068 §4: a token is what its type says, and nothing else.
        let kind = match (policy.kind, header.typ.as_deref()) {
            (TokenKind::LogoutToken, None | Some("jwt") | Some("logout+jwt")) => {
                TokenKind::LogoutToken
            }
            (TokenKind::IdToken | TokenKind::Bearer, None | Some("jwt")) => TokenKind::IdToken,
            (TokenKind::AccessToken | TokenKind::Bearer, Some("at+jwt")) => TokenKind::AccessToken,
            (_, typ) => {
                return Err(
                    VerificationError::WrongTokenType(typ.unwrap_or("(none)").to_string()).into(),
                )
            }
        };
        let hmac = policy
            .hmac_secret
            .as_ref()
            .filter(|_| policy.kind == TokenKind::IdToken);
        let (alg, key) = match (header.alg.as_str(), hmac) {
            ("HS256", Some(secret)) => (
                Algorithm::HS256,
                DecodingKey::from_secret(secret.secret().as_bytes()),
            ),
            (name, _) if ASYMMETRIC_ALGORITHMS.contains(&name) => {
                let alg = match name {
                    "RS256" => Algorithm::RS256,
                    "PS256" => Algorithm::PS256,
                    "ES256" => Algorithm::ES256,
                    _ => Algorithm::EdDSA,
                };
                let jwks = self
                    .jwks
                    .as_ref()
                    .ok_or(crate::error::ConfigError::Missing(
                        "jwks_uri (needed to verify tokens)",
                    ))?;
                (alg, jwks.key_for(header.kid.as_deref(), alg).await?)
            }
            (other, _) => {
                return Err(VerificationError::AlgorithmNotAllowed(other.to_string()).into())
            }
        };
        // The signature is jsonwebtoken's job; every claim check below uses our own clock.
        let mut validation = Validation::new(alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::new();
        #[cfg(feature = "native")]
        crypto::install();
        let data = jsonwebtoken::decode::<Map<String, Value>>(raw, &key, &validation).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    VerificationError::BadSignature
                }
                _ => VerificationError::Malformed(e.to_string()),
            },
        )?;
        Ok((data.claims, kind))
    }

    fn check_logout(
        &self,
        claims: Map<String, Value>,
        policy: &VerificationPolicy,
        max_age: Duration,
    ) -> Result<VerifiedLogout, VerificationError> {
        let now = self.clock.now_unix();
        let leeway = secs(policy.leeway);
        let bad = VerificationError::InvalidLogoutToken;
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let iss = text("iss").ok_or(VerificationError::MissingClaim("iss"))?;
        self.issuer.check(&iss, &claims)?;
        let aud = audiences(claims.get("aud")).ok_or(VerificationError::MissingClaim("aud"))?;
        if !aud.iter().any(|a| policy.audiences.contains(a)) {
            return Err(VerificationError::AudienceMismatch);
        }
        let number = |name: &str| claims.get(name).and_then(Value::as_f64).map(|v| v as i64);
        let iat = number("iat").ok_or(VerificationError::IssuedInFuture)?;
        if iat > now.saturating_add(leeway) {
            return Err(VerificationError::IssuedInFuture);
        }
        if now.saturating_sub(iat) > secs(max_age).saturating_add(leeway) {
            return Err(bad("it was issued too long ago"));
        }
        let exp = match number("exp") {
            Some(exp) if now > exp.saturating_add(leeway) => {
                return Err(VerificationError::Expired { exp, now, leeway })
            }
            Some(exp) => exp,
            None => iat.saturating_add(secs(max_age)),
        };
        let jti = text("jti").ok_or(VerificationError::MissingClaim("jti"))?;
        let event = claims
            .get("events")
            .and_then(Value::as_object)
            .and_then(|e| e.get(BACKCHANNEL_LOGOUT_EVENT));
        if !event.is_some_and(Value::is_object) {
            return Err(bad("it carries no back-channel logout event"));
        }
        if claims.contains_key("nonce") {
            return Err(bad("it has a nonce, as an ID token does"));
        }
        let (subject, session_id) = (text("sub"), text("sid"));
        if subject.is_none() && session_id.is_none() {
            return Err(bad("it names neither sub nor sid"));
        }
        Ok(VerifiedLogout {
            issuer: iss,
            subject,
            session_id,
            jti,
            expires_at: exp.saturating_add(leeway),
        })
    }

    fn check_claims(
        &self,
        mut claims: Map<String, Value>,
        policy: &VerificationPolicy,
        kind: TokenKind,
    ) -> Result<VerifiedIdentity, VerificationError> {
        let now = self.clock.now_unix();
        let leeway = secs(policy.leeway);
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(VerificationError::MissingClaim("iss"))?
            .to_string();
        self.issuer.check(&iss, &claims)?;
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if sub.is_empty() {
            return Err(VerificationError::MissingClaim("sub"));
        }
        let aud = audiences(claims.get("aud")).ok_or(VerificationError::MissingClaim("aud"))?;
        if !aud.iter().any(|a| policy.audiences.contains(a)) {
            return Err(VerificationError::AudienceMismatch);
        }
        if let Some(party) = &policy.authorized_party {
            match claims.get("azp").and_then(Value::as_str) {
                Some(azp) if azp != party => {
                    return Err(VerificationError::AuthorizedPartyMismatch)
                }
                None if aud.len() > 1 => return Err(VerificationError::AuthorizedPartyMismatch),
                _ => {}
            }
        } else if kind == TokenKind::IdToken {
            // An ID token presented as a bearer token: it was issued to `azp`, which must be one
            // of ours (an ID token another client got, listing us among its audiences, is not
            // ours to accept), and a token for several audiences must say which one it is for.
            match claims.get("azp").map(Value::as_str) {
                Some(Some(azp)) if policy.audiences.iter().any(|a| a == azp) => {}
                None if aud.len() == 1 => {}
                _ => return Err(VerificationError::AuthorizedPartyMismatch),
            }
        }
        let number = |name: &'static str, claims: &Map<String, Value>| {
            claims.get(name).and_then(Value::as_f64).map(|v| v as i64)
        };
        let exp = number("exp", &claims).ok_or(VerificationError::MissingClaim("exp"))?;
        if now > exp.saturating_add(leeway) {
            return Err(VerificationError::Expired { exp, now, leeway });
        }
        let iat = number("iat", &claims).ok_or(VerificationError::IssuedInFuture)?;
        if iat > now.saturating_add(leeway) {
            return Err(VerificationError::IssuedInFuture);
        }
        if let Some(nbf) = number("nbf", &claims) {
            if nbf > now.saturating_add(leeway) {
                return Err(VerificationError::NotYetValid);
            }
        }
        if let Some(expected) = &policy.nonce {
            match claims.get("nonce").and_then(Value::as_str) {
                Some(got) if expected.ct_eq_str(got) => {}
                _ => return Err(VerificationError::NonceMismatch),
            }
        }
        for k in ["iss", "sub", "aud", "exp"] {
            claims.remove(k);
        }
        Ok(VerifiedIdentity {
            issuer: iss,
            subject: sub,
            audiences: aud,
            expires_at: Some(exp),
            verified_by: match kind {
                TokenKind::AccessToken => VerifiedBy::JwtAccessToken,
                _ => VerifiedBy::IdToken,
            },
            claims,
        })
    }
}

/// The event a logout token carries (Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Who the provider logged out: a verified logout token's issuer, `sub` and/or `sid`. Only
/// [`TokenVerifier::verify_logout_token`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLogout {
    issuer: String,
    subject: Option<String>,
    session_id: Option<String>,
    jti: String,
    expires_at: i64,
}

impl VerifiedLogout {
    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// The person logged out (`sub`), when named.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }
    /// The provider's session logged out (`sid`), when named.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }
    /// The token's id: refuse it again until [`Self::expires_at`].
    pub fn jti(&self) -> &str {
        &self.jti
    }
    /// Until when the token could be replayed (its `exp`, or `iat` + the accepted age, plus
    /// the leeway; Unix seconds).
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

/// `aud` as a list (a string or an array of strings).
pub(crate) fn audiences(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::String(a) => Some(vec![a.clone()]),
        Value::Array(list) => Some(
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        ),
        _ => None,
    }
}

/// The claims of a verified ID token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the stable user id at this issuer.
    pub sub: String,
    /// Audiences.
    pub aud: Vec<String>,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// The nonce, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Every other claim (email, name, tid, auth_time, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl IdTokenClaims {
    /// A string claim from `extra`.
    pub fn string(&self, name: &str) -> Option<&str> {
        self.extra.get(name).and_then(Value::as_str)
    }
}

/// An ID token whose signature and claims were verified. Only this module creates one.
#[derive(Debug, Clone)]
pub struct VerifiedIdToken {
    raw: IdToken,
    claims: IdTokenClaims,
}

impl VerifiedIdToken {
    /// The verified claims.
    pub fn claims(&self) -> &IdTokenClaims {
        &self.claims
    }

    /// The raw token (e.g. as `id_token_hint` for logout).
    pub fn raw(&self) -> &IdToken {
        &self.raw
    }
}

/// Verifies the ID tokens of one provider for this client: [`TokenVerifier`] with the ID-token
/// policy of the provider configuration (audience and authorized party = client id; HS256 only
/// for a confidential client).
#[derive(Debug)]
pub struct IdTokenVerifier {
    verifier: TokenVerifier,
    policy: VerificationPolicy,
}

impl IdTokenVerifier {
    /// A verifier for this provider. `jwks` is required unless the client is confidential and
    /// the provider signs with HS256.
    pub fn new(
        provider: &ProviderConfig,
        jwks: Option<JwksCache>,
        clock: SharedClock,
        options: &VerifyOptions,
    ) -> Result<Self, Error> {
        let issuer = Issuer::for_provider(provider).ok_or(crate::error::ConfigError::Missing(
            "issuer (needed to verify ID tokens)",
        ))?;
        let mut policy =
            VerificationPolicy::id_token(provider.client_id.clone()).with_leeway(options.leeway);
        policy.hmac_secret = provider.client_secret.clone();
        Ok(Self {
            verifier: TokenVerifier::new(issuer, jwks, clock),
            policy,
        })
    }

    /// The key cache, if any.
    pub fn jwks(&self) -> Option<&JwksCache> {
        self.verifier.jwks()
    }

    /// The general verifier underneath.
    pub fn token_verifier(&self) -> &TokenVerifier {
        &self.verifier
    }

    /// Verifies a raw ID token. `expected_nonce` is the nonce of the sign-in that asked for it;
    /// `None` (after a refresh) accepts a token without one.
    pub async fn verify(
        &self,
        raw: &IdToken,
        expected_nonce: Option<&Nonce>,
    ) -> Result<VerifiedIdToken, Error> {
        let policy = self.policy.clone().with_nonce(expected_nonce.cloned());
        let mut identity = self.verifier.verify_jwt(raw.secret(), &policy).await?;
        let number = |v: Option<Value>| v.and_then(|v| v.as_f64()).map(|v| v as i64);
        let iat = number(identity.claims.remove("iat")).unwrap_or_default();
        let nonce = identity
            .claims
            .remove("nonce")
            .and_then(|v| v.as_str().map(str::to_string));
        Ok(VerifiedIdToken {
            raw: raw.clone(),
            claims: IdTokenClaims {
                iss: identity.issuer,
                sub: identity.subject,
                aud: identity.audiences,
                exp: identity.expires_at.unwrap_or_default(),
                iat,
                nonce,
                extra: identity.claims,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_alg_and_kid_from_the_header() {
        let header =
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k1","typ":"application/AT+JWT"}"#);
        let h = read_header(&format!("{header}.e30.")).unwrap();
        assert_eq!(h.alg, "none");
        assert_eq!(h.kid.as_deref(), Some("k1"));
        assert_eq!(h.typ.as_deref(), Some("at+jwt"));
    }

    #[test]
    fn rejects_malformed_tokens() {
        for bad in ["", "a.b", "a.b.c.d", "!!!.e30.x", "e30.e30.x"] {
            assert!(read_header(bad).is_err(), "{bad}");
        }
        let crit = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","crit":["b64"]}"#);
        assert!(matches!(
            read_header(&format!("{crit}.e30.x")),
            Err(VerificationError::UnsupportedCritical(_))
        ));
    }
}
