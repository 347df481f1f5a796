//! [`AnswerCache`]: what the issuer said about an opaque token (introspection, userinfo), kept so
//! that a client calling ten times makes one outbound request, and [`OutboundBudget`]: how many
//! outbound questions per second the service may ask at all, so a flood of distinct garbage
//! tokens cannot become a request storm against the provider; one client address (an IPv6
//! client's /64) may spend at most a fifth of it, so one flooder cannot starve real tokens.
//!
//! Entries are keyed by the SHA-256 of the whole token (never by a prefix, a subject or an
//! email, so an answer can never serve another identity), live no longer than the token
//! (`exp`), and at most [`POSITIVE_TTL`]; refusals live [`NEGATIVE_TTL`]. Concurrent requests
//! with one token share one outbound call. JWTs are never cached: their signature is checked on
//! every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use sipauth::{SharedClock, VerifiedIdentity};
use tokio::sync::OnceCell;

use crate::error::ApiError;
use crate::limits::{Bucket, BucketStore, KeyedLimiter};

/// The longest an accepted opaque token's answer is reused (shorter when the token expires
/// sooner; 30 s when its expiry is unknown, as with userinfo).
pub(super) const POSITIVE_TTL: i64 = 300;
/// How long an identity without a known expiry is reused.
pub(super) const UNKNOWN_EXPIRY_TTL: i64 = 30;
/// How long a refused token's answer is reused.
pub(super) const NEGATIVE_TTL: i64 = 30;
/// The most entries kept; beyond it expired entries go, then everything.
pub(super) const MAX_ENTRIES: usize = 20_000;

/// What was decided about one token.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The token is live and belongs to this identity.
    Accepted(VerifiedIdentity),
    /// The token was refused: the reason (a stable code) and the description to repeat.
    Refused(&'static str, String),
}

#[derive(Debug)]
struct Slot {
    /// Unix seconds after which the answer is not used; set when the answer arrives.
    until: Mutex<i64>,
    answer: OnceCell<Answer>,
}

/// Answers about opaque tokens, by token digest.
#[derive(Debug)]
pub struct AnswerCache {
    clock: SharedClock,
    slots: Mutex<HashMap<[u8; 32], Arc<Slot>>>,
}

impl AnswerCache {
    /// An empty cache on `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The number of entries (for metrics and tests).
    pub fn len(&self) -> usize {
        self.slots.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn slot(&self, key: [u8; 32]) -> Arc<Slot> {
        let now = self.clock.now_unix();
        let Ok(mut slots) = self.slots.lock() else {
            // A poisoned lock only means another request panicked; do not share with it.
            return Arc::new(Slot {
                until: Mutex::new(i64::MAX),
                answer: OnceCell::new(),
            });
        };
        let live = |slot: &Slot| slot.until.lock().map(|u| *u > now).unwrap_or(false);
        if let Some(slot) = slots.get(&key) {
            if live(slot) {
                return slot.clone();
            }
        }
        if slots.len() >= MAX_ENTRIES {
            slots.retain(|_, slot| live(slot));
            if slots.len() >= MAX_ENTRIES {
                slots.clear();
            }
        }
        let slot = Arc::new(Slot {
            // Until answered, the slot is live so that concurrent requests wait for one call.
            until: Mutex::new(i64::MAX),
            answer: OnceCell::new(),
        });
        slots.insert(key, slot.clone());
        slot
    }

    /// The answer for `token`, asking `ask` only when no live answer is kept. An error of
    /// `ask` (the provider unreachable, the budget spent) is returned and not kept.
    pub async fn get_or_ask<F, Fut>(&self, token: &str, ask: F) -> Result<Answer, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Answer, ApiError>>,
    {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let slot = self.slot(key);
        let clock = self.clock.clone();
        let answer = slot
            .answer
            .get_or_try_init(|| async {
                let answer = match ask().await {
                    Ok(answer) => answer,
                    Err(e) => {
                        // Nothing learnt: the slot ends now (the next request asks again, and
                        // a full cache may sweep it).
                        if let Ok(mut u) = slot.until.lock() {
                            *u = clock.now_unix();
                        }
                        return Err(e);
                    }
                };
                let now = clock.now_unix();
                let until = match &answer {
                    Answer::Accepted(identity) => match identity.expires_at() {
                        Some(exp) => exp.min(now + POSITIVE_TTL),
                        None => now + UNKNOWN_EXPIRY_TTL,
                    },
                    Answer::Refused(..) => now + NEGATIVE_TTL,
                };
                if let Ok(mut u) = slot.until.lock() {
                    *u = until;
                }
                Ok::<_, ApiError>(answer)
            })
            .await?;
        // An answer whose token expired while it was kept is asked again next time.
        if let Answer::Accepted(identity) = answer {
            if identity
                .expires_at()
                .is_some_and(|exp| exp <= self.clock.now_unix())
            {
                return Ok(Answer::Refused(
                    "inactive_token",
                    "the token has expired".into(),
                ));
            }
        }
        Ok(answer.clone())
    }
}

/// A token bucket for outbound questions about tokens: `per_second` refills, `burst` at most;
/// and a fifth of it per client address.
#[derive(Debug)]
pub struct OutboundBudget {
    per_second: f64,
    burst: f64,
    bucket: Mutex<Bucket>,
    per_client: KeyedLimiter,
}

impl OutboundBudget {
    /// A budget of `per_second` questions, `burst` at once.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        let per_second = f64::from(per_second.max(1));
        Self {
            per_second,
            burst,
            bucket: Mutex::new(Bucket::full(burst)),
            per_client: KeyedLimiter::with_capacity(
                (burst / 5.0).max(1.0),
                (per_second / 5.0).max(0.2),
            ),
        }
    }

    /// Takes one question for `client`: its share first (over it: 429 for that client alone),
    /// then the budget (spent: 503).
    pub fn take_for(&self, client: Option<std::net::IpAddr>) -> Result<(), ApiError> {
        self.per_client
            .check(&crate::limits::ip_key(client))
            .map_err(ApiError::RateLimited)?;
        self.take()
    }

    /// Takes one question from the budget, or says the budget is spent.
    pub fn take(&self) -> Result<(), ApiError> {
        let spent = || {
            ApiError::Unavailable(
                "too many unknown tokens to ask the identity provider about; try again".into(),
            )
        };
        let mut bucket = self.bucket.lock().map_err(|_| spent())?;
        bucket
            .take(self.burst, self.per_second)
            .map_err(|_| spent())
    }
}

impl Default for OutboundBudget {
    /// 50 questions per second, 100 at once.
    fn default() -> Self {
        Self::new(50, 100)
    }
}
