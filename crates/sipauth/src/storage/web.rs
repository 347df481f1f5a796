//! Browser storage for sessions: [`WebStore`] over `localStorage` (survives restarts, shared by
//! the origin's tabs) or `sessionStorage` (this tab, survives reloads and the sign-in
//! redirect), keys under a prefix. The store holds no JavaScript object (it is `Send` and
//! `Sync` as the trait requires); every call asks the window for its storage. Locks order the
//! callers of this page (one event loop); tabs sharing `localStorage` are not locked against
//! each other here.

use super::{check_key, BoxFuture, SessionStore, StorageError, StoreLock};

/// Which browser storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebStorage {
    /// `window.localStorage`.
    Local,
    /// `window.sessionStorage`.
    Session,
}

/// A [`SessionStore`] over browser storage.
#[derive(Debug)]
pub struct WebStore {
    kind: WebStorage,
    prefix: String,
    locks: super::KeyedLocks,
}

fn failed(what: &str, e: impl std::fmt::Debug) -> StorageError {
    StorageError::new(what.to_string(), format!("{e:?}"))
}

impl WebStore {
    /// `kind` storage, keys under `prefix` (e.g. `sipauth_`).
    pub fn new(kind: WebStorage, prefix: impl Into<String>) -> Self {
        Self {
            kind,
            prefix: prefix.into(),
            locks: super::KeyedLocks::default(),
        }
    }

    fn storage(&self) -> Result<web_sys::Storage, StorageError> {
        let window = web_sys::window().ok_or_else(|| failed("browser storage", "no window"))?;
        let storage = match self.kind {
            WebStorage::Local => window.local_storage(),
            WebStorage::Session => window.session_storage(),
        };
        storage
            .map_err(|e| failed("browser storage", e))?
            .ok_or_else(|| failed("browser storage", "storage is disabled in this browser"))
    }

    fn full(&self, key: &str) -> Result<String, StorageError> {
        check_key(key)?;
        Ok(format!("{}{key}", self.prefix))
    }
}

impl SessionStore for WebStore {
    fn load(&self, key: &str) -> Result<Option<String>, StorageError> {
        let key = self.full(key)?;
        self.storage()?.get_item(&key).map_err(|e| failed(&key, e))
    }

    fn save(&self, key: &str, value: &str) -> Result<(), StorageError> {
        // One setItem: a reader sees the old value or the new one. A full quota is an error.
        let key = self.full(key)?;
        self.storage()?
            .set_item(&key, value)
            .map_err(|e| failed(&key, e))
    }

    fn remove(&self, key: &str) -> Result<(), StorageError> {
        let key = self.full(key)?;
        self.storage()?
            .remove_item(&key)
            .map_err(|e| failed(&key, e))
    }

    fn take(&self, key: &str) -> Result<Option<String>, StorageError> {
        // The page's one event loop runs this without interruption.
        let value = self.load(key)?;
        if value.is_some() {
            self.remove(key)?;
        }
        Ok(value)
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let storage = self.storage()?;
        let len = storage.length().map_err(|e| failed("browser storage", e))?;
        let full = format!("{}{prefix}", self.prefix);
        let mut keys = Vec::new();
        for i in 0..len {
            if let Ok(Some(k)) = storage.key(i) {
                if let Some(rest) = k
                    .strip_prefix(&self.prefix)
                    .filter(|_| k.starts_with(&full))
                {
                    keys.push(rest.to_string());
                }
            }
        }
        Ok(keys)
    }

    fn lock<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<StoreLock, StorageError>> {
        self.locks.lock(key)
    }
}
