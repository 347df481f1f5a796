//! [`JwksCache`]: a provider's signing keys, fetched from its `jwks_uri` and cached. An unknown
//! `kid` triggers one refetch, even right after a fetch (caches and CDNs serve stale key sets);
//! further refetches for unknown kids wait at least `min_refetch_interval`, and concurrent callers
//! share one fetch, so a flood of forged kids cannot cause a fetch storm. A set older than
//! `max_key_age` is refreshed by one caller while the others keep verifying with the cached keys
//! (no lock is held across the network call for them); a refresh that fails is retried after a
//! backoff (1 s, doubling, at most `min_refetch_interval`), never on every request. Keys are
//! selected by kid and algorithm family; RSA keys under 2048 bits are refused (RFC 7518 §3.3).
//! What a token claims is [`super`]'s business.

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use url::Url;

use super::VerifyOptions;
use crate::clock::{secs, SharedClock};
use crate::error::{Endpoint, Error, TransportError, VerificationError};
use crate::http::{HttpClient, HttpRequest};

#[derive(Debug, Default)]
struct KeySet {
    keys: Arc<Vec<Jwk>>,
    fetched_at: Option<i64>,
    last_unknown_kid_refetch: Option<i64>,
    fetches: u64,
    /// Failed fetches in a row, and when the next may be tried.
    failures: u32,
    retry_at: Option<i64>,
    last_error: Option<String>,
}

impl KeySet {
    fn may_fetch(&self, now: i64) -> bool {
        self.retry_at.is_none_or(|at| now >= at)
    }
}

/// The provider's signing keys, cached.
#[derive(Debug)]
pub struct JwksCache {
    uri: Url,
    http: HttpClient,
    clock: SharedClock,
    options: VerifyOptions,
    state: Mutex<KeySet>,
    /// Held by the one caller fetching; others wait for it only when they have no usable key.
    fetching: tokio::sync::Mutex<()>,
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
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, KeySet> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many times the key set was fetched (for diagnostics and tests).
    pub async fn fetch_count(&self) -> u64 {
        self.state().fetches
    }

    /// Makes sure a key set is held: fetched once when none is (a readiness check; a held set,
    /// even an old one, counts). Within a failed fetch's backoff it answers that failure
    /// without asking again.
    pub async fn ensure_loaded(&self) -> Result<(), Error> {
        if self.state().fetched_at.is_some() {
            return Ok(());
        }
        self.fetch_shared(|set| set.fetched_at.is_some()).await
    }

    /// The key for a token header, fetching or refetching the set as the rules allow.
    pub async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, Error> {
        let now = self.clock.now_unix();
        let (keys, stale, may_fetch) = {
            let set = self.state();
            let stale = set
                .fetched_at
                .is_none_or(|at| now - at >= secs(self.options.max_key_age));
            (set.keys.clone(), stale, set.may_fetch(now))
        };
        if keys.is_empty() {
            // Nothing to verify with: wait for the one fetch (or start it).
            let fetched_at = self.state().fetched_at;
            self.fetch_shared(|set| set.fetched_at != fetched_at)
                .await?;
        } else if stale && may_fetch {
            // One caller refreshes; the others go on with the cached keys.
            if let Ok(_turn) = self.fetching.try_lock() {
                if let Err(e) = self.fetch().await {
                    tracing::warn!(error = %e, "JWKS refresh failed; keeping the cached keys");
                }
            }
        }
        let keys = self.state().keys.clone();
        if let Some(key) = find_key(&keys, kid, alg)? {
            return Ok(key);
        }
        // Even right after a fetch: caches and CDNs serve stale key sets, so an unknown kid
        // gets one refetch, rate-limited so a flood of unknown kids makes no storm.
        let allowed = {
            let mut set = self.state();
            let allowed = set.may_fetch(now)
                && set
                    .last_unknown_kid_refetch
                    .is_none_or(|at| now - at >= secs(self.options.min_refetch_interval));
            if allowed {
                set.last_unknown_kid_refetch = Some(now);
            }
            allowed
        };
        if allowed {
            let fetches = self.state().fetches;
            self.fetch_shared(|set| set.fetches != fetches).await?;
        } else {
            // Another caller's refetch may be under way: its keys are worth waiting for.
            drop(self.fetching.lock().await);
        }
        if let Some(key) = find_key(&self.state().keys, kid, alg)? {
            return Ok(key);
        }
        Err(VerificationError::UnknownSigningKey {
            kid: kid.map(str::to_string),
        }
        .into())
    }

    /// Fetches unless `done` says another caller already did while this one waited its turn;
    /// within a failed fetch's backoff, answers that failure without asking.
    async fn fetch_shared(&self, done: impl Fn(&KeySet) -> bool) -> Result<(), Error> {
        let _turn = self.fetching.lock().await;
        let now = self.clock.now_unix();
        {
            let set = self.state();
            if done(&set) {
                return Ok(());
            }
            if !set.may_fetch(now) {
                return Err(Error::Transport(TransportError {
                    endpoint: Endpoint::Jwks,
                    url: self.uri.to_string(),
                    timed_out: false,
                    message: format!(
                        "the key set could not be fetched ({}); the next try is in {} s",
                        set.last_error.as_deref().unwrap_or("unknown"),
                        set.retry_at.map_or(0, |at| at - now)
                    ),
                }));
            }
        }
        self.fetch().await
    }

    /// One fetch of the key set (the caller holds `fetching`), recorded in the state.
    async fn fetch(&self) -> Result<(), Error> {
        let result = self.download().await;
        let now = self.clock.now_unix();
        let mut set = self.state();
        set.fetches += 1;
        match result {
            Ok(keys) => {
                tracing::debug!(keys = keys.len(), "fetched the provider's JWKS");
                set.keys = Arc::new(keys);
                set.fetched_at = Some(now);
                set.failures = 0;
                set.retry_at = None;
                set.last_error = None;
                Ok(())
            }
            Err(e) => {
                set.failures = set.failures.saturating_add(1);
                let cap = secs(self.options.min_refetch_interval).max(1);
                let backoff = 1_i64
                    .checked_shl(set.failures.saturating_sub(1).min(30))
                    .unwrap_or(cap)
                    .min(cap);
                set.retry_at = Some(now.saturating_add(backoff));
                set.last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    async fn download(&self) -> Result<Vec<Jwk>, Error> {
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
        Ok(entries
            .iter()
            .filter_map(|entry| serde_json::from_value::<Jwk>(entry.clone()).ok())
            .filter(|jwk| !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)))
            .collect())
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
