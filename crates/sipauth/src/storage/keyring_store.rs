//! [`KeyringStore`]: values in the operating system's keyring (Secret Service / keyutils, macOS
//! Keychain, Windows Credential Manager) through the `keyring` crate. One keyring entry per key,
//! under one service name. The keyring has no cross-process lock, so locks here are per process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use keyring::Entry;

use super::{check_key, BoxFuture, MemoryStore, SessionStore, StorageError, StoreLock};

/// Once per process: see [`KeyringStore::save`].
static PRIME: std::sync::Once = std::sync::Once::new();

/// Values in the OS keyring.
pub struct KeyringStore {
    service: String,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    index: Mutex<Vec<String>>,
    locks: MemoryStore,
}

impl std::fmt::Debug for KeyringStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyringStore")
            .field("service", &self.service)
            .finish()
    }
}

impl KeyringStore {
    /// A store under this keyring service name (e.g. `sipauth`).
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            entries: Mutex::default(),
            index: Mutex::default(),
            locks: MemoryStore::new(),
        }
    }

    fn entry(&self, key: &str) -> Result<Arc<Entry>, StorageError> {
        check_key(key)?;
        // Linux keyutils: the first keyring access of a process (read or write) fails with
        // EACCES while the user's persistent keyring is being attached, which the keyring crate
        // reports as "no entry": a saved value then reads as absent. So each process first
        // touches a throwaway entry.
        PRIME.call_once(|| {
            if let Ok(probe) = Entry::new(&self.service, "sipauth_keyring_prime") {
                let _ = probe.get_password();
            }
        });
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = entries.get(key) {
            return Ok(entry.clone());
        }
        let entry = Arc::new(
            Entry::new(&self.service, key)
                .map_err(|e| StorageError::new(format!("keyring {key}"), e))?,
        );
        entries.insert(key.to_string(), entry.clone());
        Ok(entry)
    }

    fn indexed(&self, key: &str, present: bool) {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        index.retain(|k| k != key);
        if present {
            index.push(key.to_string());
        }
    }
}

impl SessionStore for KeyringStore {
    fn load(&self, key: &str) -> Result<Option<String>, StorageError> {
        match self.entry(key)?.get_password() {
            Ok(v) => Ok(Some(v)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(StorageError::new(format!("keyring read {key}"), e)),
        }
    }

    fn save(&self, key: &str, value: &str) -> Result<(), StorageError> {
        self.entry(key)?
            .set_password(value)
            .map_err(|e| StorageError::new(format!("keyring write {key}"), e))?;
        self.indexed(key, true);
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<(), StorageError> {
        match self.entry(key)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => {
                self.indexed(key, false);
                Ok(())
            }
            Err(e) => Err(StorageError::new(format!("keyring delete {key}"), e)),
        }
    }

    fn take(&self, key: &str) -> Result<Option<String>, StorageError> {
        let value = self.load(key)?;
        self.remove(key)?;
        Ok(value)
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        // The keyring cannot be listed portably: only keys written by this store are known.
        let index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        Ok(index
            .iter()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }

    fn lock<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<StoreLock, StorageError>> {
        self.locks.lock(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_mock_keyring() {
        keyring::set_default_credential_builder(keyring::mock::default_credential_builder());
        let store = KeyringStore::new("sipauth-test");
        assert_eq!(store.load("session").unwrap(), None);
        store.save("session", "{\"v\":1}").unwrap();
        assert_eq!(store.load("session").unwrap().as_deref(), Some("{\"v\":1}"));
        store.save("sipauth_pending_x", "p").unwrap();
        assert_eq!(
            store.keys("sipauth_pending_").unwrap(),
            vec!["sipauth_pending_x".to_string()]
        );
        assert_eq!(
            store.take("sipauth_pending_x").unwrap().as_deref(),
            Some("p")
        );
        assert_eq!(store.load("sipauth_pending_x").unwrap(), None);
        store.remove("session").unwrap();
        assert_eq!(store.load("session").unwrap(), None);
    }
}
