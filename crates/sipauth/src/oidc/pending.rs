//! [`StoredPendingSignIns`]: pending sign-ins kept in a [`SessionStore`], so a callback handled by
//! another process (a loopback listener) or after a page reload finds its state and verifier.
//! Taking one is atomic; expired and unreadable records are swept.

use std::sync::Arc;

use super::authorize::{PendingSignIn, PendingSignInStore};
use crate::error::Error;
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

    /// Pending sign-ins in this process's memory (the default of a bare [`super::OidcClient`]).
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
