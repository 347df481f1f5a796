//! [`MemoryStore`]: values in this process's memory. Right for a server holding sessions itself or
//! a process that handles its own callback (a loopback listener); nothing survives a restart.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{check_key, BoxFuture, SessionStore, StorageError, StoreLock};

/// Values in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    values: Mutex<HashMap<String, String>>,
    locks: super::KeyedLocks,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn values(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.values.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SessionStore for MemoryStore {
    fn load(&self, key: &str) -> Result<Option<String>, StorageError> {
        Ok(self.values().get(key).cloned())
    }

    fn save(&self, key: &str, value: &str) -> Result<(), StorageError> {
        check_key(key)?;
        self.values().insert(key.to_string(), value.to_string());
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<(), StorageError> {
        self.values().remove(key);
        Ok(())
    }

    fn take(&self, key: &str) -> Result<Option<String>, StorageError> {
        Ok(self.values().remove(key))
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        Ok(self
            .values()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }

    fn lock<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<StoreLock, StorageError>> {
        self.locks.lock(key)
    }
}
