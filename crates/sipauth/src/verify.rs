//! ID-token verification, the one JWT verification path of sipauth (the provisioning service uses
//! it too): the signature against the provider's JWKS with an algorithm allowlist, then `iss`
//! (exact; Google's two forms; Entra's `{tenantid}` template filled from `tid`), `aud` and `azp`,
//! `exp`/`iat`/`nbf` with a leeway on an injected clock, and the nonce.
//!
//! The JWKS is cached. An unknown `kid` triggers one refetch; further refetches for unknown kids
//! wait at least `min_refetch_interval`, and concurrent callers share one fetch, so a flood of
//! forged kids cannot cause a fetch storm. Signature math is jsonwebtoken's; nothing is hand-rolled.

use std::collections::HashSet;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::Mutex;
use url::Url;

use crate::clock::{secs, SharedClock};
use crate::error::{Endpoint, Error, VerificationError};
use crate::http::{HttpClient, HttpRequest};
use crate::provider::{ProviderConfig, ProviderKind};
use crate::secret::{ClientSecret, IdToken, Nonce};

/// Algorithms accepted for ID tokens signed with the provider's keys. Never `none`.
pub const ASYMMETRIC_ALGORITHMS: &[&str] = &["RS256", "PS256", "ES256", "EdDSA"];

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

#[derive(Debug, Default)]
struct KeySet {
    keys: Vec<Jwk>,
    fetched_at: Option<i64>,
    last_unknown_kid_refetch: Option<i64>,
    fetches: u64,
}

/// The provider's signing keys, cached.
#[derive(Debug)]
pub struct JwksCache {
    uri: Url,
    http: HttpClient,
    clock: SharedClock,
    options: VerifyOptions,
    state: Mutex<KeySet>,
}

impl JwksCache {
    /// A cache for the key set at `uri`; nothing is fetched until a key is needed.
    pub fn new(uri: Url, http: HttpClient, clock: SharedClock, options: VerifyOptions) -> Self {
        Self {
            uri,
            http,
            clock,
            options,
            state: Mutex::new(KeySet::default()),
        }
    }

    /// How many times the key set was fetched (for diagnostics and tests).
    pub async fn fetch_count(&self) -> u64 {
        self.state.lock().await.fetches
    }

    /// The key for a token header, fetching or refetching the set as the rules allow.
    pub async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, Error> {
        let mut set = self.state.lock().await;
        let now = self.clock.now_unix();
        let stale = set
            .fetched_at
            .is_none_or(|at| now - at >= secs(self.options.max_key_age));
        if stale {
            if let Err(e) = self.refetch(&mut set, now).await {
                if set.keys.is_empty() {
                    return Err(e);
                }
                tracing::warn!(error = %e, "JWKS refresh failed; keeping the cached keys");
            }
        }
        if let Some(key) = find_key(&set.keys, kid, alg)? {
            return Ok(key);
        }
        let allowed = set
            .last_unknown_kid_refetch
            .is_none_or(|at| now - at >= secs(self.options.min_refetch_interval));
        // Even right after a fetch: caches and CDNs serve stale key sets, so an unknown kid
        // gets one refetch, rate-limited so a flood of unknown kids makes no storm.
        if allowed {
            set.last_unknown_kid_refetch = Some(now);
            self.refetch(&mut set, now).await?;
            if let Some(key) = find_key(&set.keys, kid, alg)? {
                return Ok(key);
            }
        }
        Err(VerificationError::UnknownSigningKey {
            kid: kid.map(str::to_string),
        }
        .into())
    }

    async fn refetch(&self, set: &mut KeySet, now: i64) -> Result<(), Error> {
        set.fetches += 1;
        let raw = self
            .http
            .send(Endpoint::Jwks, HttpRequest::get(self.uri.clone()))
            .await?;
        if !raw.is_success() {
            return Err(raw.unusable(Endpoint::Jwks, "the key set could not be fetched"));
        }
        let doc: Value = serde_json::from_slice(&raw.body)
            .map_err(|_| raw.unusable(Endpoint::Jwks, "the key set is not JSON"))?;
        let entries = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| raw.unusable(Endpoint::Jwks, "the key set has no keys array"))?;
        // Keys we cannot use (encryption keys such as Keycloak's RSA-OAEP, unknown types) are
        // skipped one by one instead of failing the whole set.
        set.keys = entries
            .iter()
            .filter_map(|entry| serde_json::from_value::<Jwk>(entry.clone()).ok())
            .filter(|jwk| !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)))
            .collect();
        set.fetched_at = Some(now);
        tracing::debug!(keys = set.keys.len(), "fetched the provider's JWKS");
        Ok(())
    }
}

fn key_fits(jwk: &Jwk, alg: Algorithm) -> bool {
    let family_fits = matches!(
        (&jwk.algorithm, alg),
        (
            AlgorithmParameters::RSA(_),
            Algorithm::RS256 | Algorithm::PS256
        ) | (AlgorithmParameters::EllipticCurve(_), Algorithm::ES256)
            | (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA)
    );
    // A key that declares its algorithm may only be used with that algorithm.
    let declared_fits = match jwk.common.key_algorithm {
        None => true,
        Some(KeyAlgorithm::RS256) => alg == Algorithm::RS256,
        Some(KeyAlgorithm::PS256) => alg == Algorithm::PS256,
        Some(KeyAlgorithm::ES256) => alg == Algorithm::ES256,
        Some(KeyAlgorithm::EdDSA) => alg == Algorithm::EdDSA,
        Some(_) => false,
    };
    family_fits && declared_fits
}

fn find_key(keys: &[Jwk], kid: Option<&str>, alg: Algorithm) -> Result<Option<DecodingKey>, Error> {
    let found = keys.iter().find(|jwk| {
        key_fits(jwk, alg)
            && match kid {
                Some(kid) => jwk.common.key_id.as_deref() == Some(kid),
                None => true,
            }
    });
    if let Some(Jwk {
        algorithm: AlgorithmParameters::RSA(rsa),
        ..
    }) = found
    {
        // RFC 7518 §3.3: RSA keys of at least 2048 bits.
        let modulus = URL_SAFE_NO_PAD
            .decode(rsa.n.trim_end_matches('='))
            .map_err(|_| VerificationError::Malformed("RSA modulus is not base64url".into()))?;
        let bits = modulus
            .iter()
            .position(|b| *b != 0)
            .map_or(0, |first| (modulus.len() - first) * 8);
        if bits < 2048 {
            return Err(VerificationError::WeakKey(bits).into());
        }
    }
    match found {
        None => Ok(None),
        Some(jwk) => DecodingKey::from_jwk(jwk)
            .map(Some)
            .map_err(|e| VerificationError::Malformed(format!("unusable JWK: {e}")).into()),
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

/// How the `iss` claim is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
enum IssuerRule {
    Exact(String),
    /// Google's tokens may say `accounts.google.com` without the scheme.
    Google(String),
    /// Entra's `https://login.microsoftonline.com/{tenantid}/v2.0`.
    TenantTemplate {
        template: String,
        allowed_tenants: Vec<String>,
    },
}

impl IssuerRule {
    fn for_provider(provider: &ProviderConfig, issuer: &str) -> Self {
        if issuer.contains("{tenantid}") {
            IssuerRule::TenantTemplate {
                template: issuer.to_string(),
                allowed_tenants: provider.allowed_tenants.clone(),
            }
        } else if provider.kind == ProviderKind::Google {
            IssuerRule::Google(issuer.to_string())
        } else {
            IssuerRule::Exact(issuer.to_string())
        }
    }

    fn check(&self, iss: &str, claims: &Map<String, Value>) -> Result<(), VerificationError> {
        let mismatch = |expected: &str| VerificationError::IssuerMismatch {
            expected: expected.to_string(),
            got: iss.to_string(),
        };
        match self {
            IssuerRule::Exact(expected) if iss == expected => Ok(()),
            IssuerRule::Exact(expected) => Err(mismatch(expected)),
            IssuerRule::Google(expected) => {
                let bare = expected.strip_prefix("https://").unwrap_or(expected);
                if iss == expected || iss == bare {
                    Ok(())
                } else {
                    Err(mismatch(expected))
                }
            }
            IssuerRule::TenantTemplate {
                template,
                allowed_tenants,
            } => {
                let tid = claims
                    .get("tid")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty() && !t.contains('/'))
                    .ok_or(VerificationError::MissingClaim("tid"))?;
                if iss != template.replace("{tenantid}", tid) {
                    return Err(mismatch(template));
                }
                if !allowed_tenants.is_empty() && !allowed_tenants.iter().any(|t| t == tid) {
                    return Err(VerificationError::TenantNotAllowed(tid.to_string()));
                }
                Ok(())
            }
        }
    }
}

/// Verifies ID tokens for one provider and client.
#[derive(Debug)]
pub struct IdTokenVerifier {
    client_id: String,
    client_secret: Option<ClientSecret>,
    issuer: IssuerRule,
    jwks: Option<JwksCache>,
    clock: SharedClock,
    leeway: i64,
}

fn alg_from_header(raw: &str) -> Result<(String, Option<String>), VerificationError> {
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
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("header has no alg"))?
        .to_string();
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .map(str::to_string);
    // RFC 7515 §4.1.11: extensions listed in `crit` MUST be understood; we implement none.
    if let Some(crit) = header.get("crit") {
        return Err(VerificationError::UnsupportedCritical(crit.to_string()));
    }
    // RFC 8725 §3.11 / RFC 9068 §2.1: an access token is explicitly typed, and is never an ID
    // token (nor is anything typed otherwise but JWT).
    if let Some(typ) = header.get("typ").and_then(Value::as_str) {
        let typ = typ.to_ascii_lowercase();
        let typ = typ.strip_prefix("application/").unwrap_or(&typ);
        if typ != "jwt" {
            return Err(VerificationError::WrongTokenType(typ.to_string()));
        }
    }
    Ok((alg, kid))
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
        let issuer = provider
            .issuer
            .as_deref()
            .ok_or(crate::error::ConfigError::Missing(
                "issuer (needed to verify ID tokens)",
            ))?;
        Ok(Self {
            client_id: provider.client_id.clone(),
            client_secret: provider.client_secret.clone(),
            issuer: IssuerRule::for_provider(provider, issuer),
            jwks,
            clock,
            leeway: secs(options.leeway),
        })
    }

    /// The key cache, if any.
    pub fn jwks(&self) -> Option<&JwksCache> {
        self.jwks.as_ref()
    }

    /// Verifies a raw ID token. `expected_nonce` is the nonce of the sign-in that asked for it;
    /// `None` (after a refresh) accepts a token without one.
    pub async fn verify(
        &self,
        raw: &IdToken,
        expected_nonce: Option<&Nonce>,
    ) -> Result<VerifiedIdToken, Error> {
        let (alg_name, kid) = alg_from_header(raw.secret())?;
        let hmac_allowed = self.client_secret.is_some();
        let (alg, key) = match alg_name.as_str() {
            "HS256" if hmac_allowed => {
                let secret = self
                    .client_secret
                    .as_ref()
                    .map(|s| s.secret().as_bytes())
                    .unwrap_or_default();
                (Algorithm::HS256, DecodingKey::from_secret(secret))
            }
            name if ASYMMETRIC_ALGORITHMS.contains(&name) => {
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
                        "jwks_uri (needed to verify ID tokens)",
                    ))?;
                (alg, jwks.key_for(kid.as_deref(), alg).await?)
            }
            other => return Err(VerificationError::AlgorithmNotAllowed(other.to_string()).into()),
        };

        // The signature is jsonwebtoken's job; every claim check below uses our own clock.
        let mut validation = Validation::new(alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::new();
        let data = jsonwebtoken::decode::<Map<String, Value>>(raw.secret(), &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    VerificationError::BadSignature
                }
                _ => VerificationError::Malformed(e.to_string()),
            })?;
        let claims = self.check_claims(data.claims, expected_nonce)?;
        Ok(VerifiedIdToken {
            raw: raw.clone(),
            claims,
        })
    }

    fn check_claims(
        &self,
        mut claims: Map<String, Value>,
        expected_nonce: Option<&Nonce>,
    ) -> Result<IdTokenClaims, VerificationError> {
        let now = self.clock.now_unix();
        let leeway = self.leeway;
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(VerificationError::MissingClaim("iss"))?;
        self.issuer.check(iss, &claims)?;
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if sub.is_empty() {
            return Err(VerificationError::MissingClaim("sub"));
        }
        let aud: Vec<String> = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => return Err(VerificationError::MissingClaim("aud")),
        };
        if !aud.iter().any(|a| a == &self.client_id) {
            return Err(VerificationError::AudienceMismatch);
        }
        match claims.get("azp").and_then(Value::as_str) {
            Some(azp) if azp != self.client_id => {
                return Err(VerificationError::AuthorizedPartyMismatch)
            }
            None if aud.len() > 1 => return Err(VerificationError::AuthorizedPartyMismatch),
            _ => {}
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
        let nonce = claims
            .get("nonce")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(expected) = expected_nonce {
            match &nonce {
                Some(got) if expected.ct_eq_str(got) => {}
                _ => return Err(VerificationError::NonceMismatch),
            }
        }
        let iss = iss.to_string();
        let sub = sub.to_string();
        for k in ["iss", "sub", "aud", "exp", "iat", "nonce"] {
            claims.remove(k);
        }
        Ok(IdTokenClaims {
            iss,
            sub,
            aud,
            exp,
            iat,
            nonce,
            extra: claims,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_alg_and_kid_from_the_header() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k1"}"#);
        let (alg, kid) = alg_from_header(&format!("{header}.e30.")).unwrap();
        assert_eq!(alg, "none");
        assert_eq!(kid.as_deref(), Some("k1"));
    }

    #[test]
    fn rejects_malformed_tokens() {
        for bad in ["", "a.b", "a.b.c.d", "!!!.e30.x", "e30.e30.x"] {
            assert!(alg_from_header(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn google_issuer_accepts_both_forms_only_for_google() {
        let claims = Map::new();
        let google = IssuerRule::Google("https://accounts.google.com".into());
        google.check("accounts.google.com", &claims).unwrap();
        google
            .check("https://accounts.google.com", &claims)
            .unwrap();
        assert!(google.check("https://evil.example", &claims).is_err());
        let exact = IssuerRule::Exact("https://accounts.google.com".into());
        assert!(exact.check("accounts.google.com", &claims).is_err());
    }

    #[test]
    fn entra_template_is_filled_from_tid() {
        let rule = IssuerRule::TenantTemplate {
            template: "https://login.microsoftonline.com/{tenantid}/v2.0".into(),
            allowed_tenants: vec![],
        };
        let mut claims = Map::new();
        claims.insert("tid".into(), "t-1".into());
        rule.check("https://login.microsoftonline.com/t-1/v2.0", &claims)
            .unwrap();
        assert!(rule
            .check("https://login.microsoftonline.com/t-2/v2.0", &claims)
            .is_err());
        assert_eq!(
            rule.check("https://login.microsoftonline.com/t-1/v2.0", &Map::new()),
            Err(VerificationError::MissingClaim("tid"))
        );
        let only = IssuerRule::TenantTemplate {
            template: "https://login.microsoftonline.com/{tenantid}/v2.0".into(),
            allowed_tenants: vec!["t-9".into()],
        };
        assert_eq!(
            only.check("https://login.microsoftonline.com/t-1/v2.0", &claims),
            Err(VerificationError::TenantNotAllowed("t-1".into()))
        );
    }
}
