//! Where pending sign-ins wait for their callback. [`MemoryPendingSignIns`], the default: this
//! process's memory, bounded (past its cap a new sign-in is refused, never an old one dropped),
//! swept by an expiry index (the work of a sweep is the number of records that expired, not the
//! number kept). [`StoredPendingSignIns`]: in a [`SessionStore`], so a callback handled by
//! another process (a loopback listener) or after a page reload finds its state and verifier.
//! Taking one is atomic; expired and unreadable records are swept.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::authorize::{PendingSignIn, PendingSignInStore};
use crate::error::{Error, SessionFailure};
use crate::storage::{check_key, MemoryStore, SessionStore, StorageError};

/// Pending sign-ins under `<prefix>pending_<state>` in a store.
#[derive(Debug, Clone)]
pub struct StoredPendingSignIns {
    store: Arc<dyn SessionStore>,
    prefix: String,
}

impl StoredPendingSignIns {
    /// Pending sign-ins in `store`, under keys starting with `prefix`.
    pub fn new(store: Arc<dyn SessionStore>, prefix: impl Into<String>) -> Self {
        Self {
            store,
            prefix: prefix.into(),
        }
    }

    /// Pending sign-ins in a [`MemoryStore`] (unbounded: for one person's command or page; a
    /// service uses [`MemoryPendingSignIns`], the default of a bare [`super::OidcClient`]).
    pub fn in_memory() -> Self {
        Self::new(Arc::new(MemoryStore::new()), "sipauth_")
    }

    fn key(&self, state: &str) -> String {
        format!("{}pending_{state}", self.prefix)
    }
}

impl PendingSignInStore for StoredPendingSignIns {
    fn put(&self, pending: PendingSignIn) -> Result<(), Error> {
        let json = serde_json::to_string(&pending)
            .map_err(|e| StorageError::new("encode pending sign-in", e))?;
        Ok(self.store.save(&self.key(pending.state.secret()), &json)?)
    }

    fn take(&self, state: &str) -> Result<Option<PendingSignIn>, Error> {
        // A state that cannot be a key cannot have been stored: it is simply unknown.
        if check_key(&self.key(state)).is_err() {
            return Ok(None);
        }
        Ok(self
            .store
            .take(&self.key(state))?
            .and_then(|json| serde_json::from_str(&json).ok()))
    }

    fn sweep(&self, now: i64) -> Result<usize, Error> {
        let mut swept = 0;
        for key in self.store.keys(&format!("{}pending_", self.prefix))? {
            let expired = match self.store.load(&key)? {
                Some(json) => serde_json::from_str::<PendingSignIn>(&json)
                    .map(|p| p.expires_at <= now)
                    .unwrap_or(true),
                None => false,
            };
            if expired {
                self.store.remove(&key)?;
                swept += 1;
            }
        }
        Ok(swept)
    }
}

/// The most pending sign-ins [`MemoryPendingSignIns::default`] keeps.
pub const DEFAULT_MAX_PENDING_SIGN_INS: usize = 10_000;

/// Pending sign-ins in this process's memory, at most `max` at a time.
#[derive(Debug)]
pub struct MemoryPendingSignIns {
    max: usize,
    inner: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    by_state: HashMap<String, PendingSignIn>,
    /// (expires_at, state) in insertion order; entries whose sign-in was taken stay until
    /// their time comes (or a compaction).
    expiries: VecDeque<(i64, String)>,
}

impl Default for MemoryPendingSignIns {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PENDING_SIGN_INS)
    }
}

impl MemoryPendingSignIns {
    /// A store keeping at most `max` pending sign-ins (at least 1).
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            inner: Mutex::new(Pending::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many sign-ins are pending.
    pub fn len(&self) -> usize {
        self.lock().by_state.len()
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Pending {
    /// Drops what expired at `now`: the index is in insertion order and the lifetime is the
    /// client's one setting, so the expired ones are at the front.
    fn sweep(&mut self, now: i64) -> usize {
        let mut swept = 0;
        while let Some((at, _)) = self.expiries.front() {
            if *at > now {
                break;
            }
            if let Some((_, state)) = self.expiries.pop_front() {
                if self.by_state.remove(&state).is_some() {
                    swept += 1;
                }
            }
        }
        swept
    }
}

impl PendingSignInStore for MemoryPendingSignIns {
    fn put(&self, pending: PendingSignIn) -> Result<(), Error> {
        let mut inner = self.lock();
        if inner.by_state.len() >= self.max {
            return Err(SessionFailure::TooManyPendingSignIns.into());
        }
        // Taken sign-ins leave their index entries behind; keep the index near the map's size.
        if inner.expiries.len() >= self.max.saturating_mul(2) {
            let Pending { by_state, expiries } = &mut *inner;
            expiries.retain(|(_, s)| by_state.contains_key(s));
        }
        let state = pending.state.secret().to_string();
        inner
            .expiries
            .push_back((pending.expires_at, state.clone()));
        inner.by_state.insert(state, pending);
        Ok(())
    }

    fn take(&self, state: &str) -> Result<Option<PendingSignIn>, Error> {
        Ok(self.lock().by_state.remove(state))
    }

    fn sweep(&self, now: i64) -> Result<usize, Error> {
        Ok(self.lock().sweep(now))
    }
}

#[cfg(test)]
mod memory_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::CsrfState;

    fn pending(state: &str, expires_at: i64) -> PendingSignIn {
        PendingSignIn {
            state: CsrfState::new(state),
            pkce_verifier: None,
            nonce: None,
            redirect_uri: "http://127.0.0.1/cb".into(),
            created_at: expires_at - 600,
            expires_at,
        }
    }

    #[test]
    fn rejects_sign_ins_past_the_cap_until_some_expire_or_end() {
        let store = MemoryPendingSignIns::new(3);
        for i in 0..3 {
            store.put(pending(&format!("s{i}"), 100 + i)).unwrap();
        }
        let e = store.put(pending("s3", 200)).unwrap_err();
        assert_eq!(e.code(), "temporarily_unavailable");
        // One ends: room for one.
        assert!(store.take("s1").unwrap().is_some());
        store.put(pending("s3", 200)).unwrap();
        // Time passes: the expired ones go, in order, and only those.
        assert_eq!(store.sweep(100).unwrap(), 1);
        assert_eq!(store.sweep(101).unwrap(), 0, "s1 was taken already");
        assert_eq!(store.sweep(150).unwrap(), 1);
        assert_eq!(store.len(), 1);
        assert!(store.take("s3").unwrap().is_some());
        assert!(store.take("s3").unwrap().is_none(), "single use");
    }

    #[test]
    fn the_index_stays_bounded_when_sign_ins_end_before_they_expire() {
        let store = MemoryPendingSignIns::new(4);
        for i in 0..1_000 {
            let s = format!("s{i}");
            store.put(pending(&s, 10_000)).unwrap();
            store.take(&s).unwrap();
        }
        assert!(store.lock().expiries.len() <= 8);
    }
}
