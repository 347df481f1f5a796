//! [`JwksCache`]: a provider's signing keys, fetched from its `jwks_uri` and cached. An unknown
//! `kid` triggers one refetch, even right after a fetch (caches and CDNs serve stale key sets);
//! further refetches for unknown kids wait at least `min_refetch_interval`, and concurrent callers
//! share one fetch, so a flood of forged kids cannot cause a fetch storm. Keys are selected by kid
//! and algorithm family; RSA keys under 2048 bits are refused (RFC 7518 §3.3). What a token
//! claims is [`super`]'s business.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use tokio::sync::Mutex;
use url::Url;

use super::VerifyOptions;
use crate::clock::{secs, SharedClock};
use crate::error::{Endpoint, Error, VerificationError};
use crate::http::{HttpClient, HttpRequest};

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

    /// Makes sure a key set is held: fetched once when none is (a readiness check; a held set,
    /// even an old one, counts).
    pub async fn ensure_loaded(&self) -> Result<(), Error> {
        let mut set = self.state.lock().await;
        if set.fetched_at.is_some() {
            return Ok(());
        }
        let now = self.clock.now_unix();
        self.refetch(&mut set, now).await
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
