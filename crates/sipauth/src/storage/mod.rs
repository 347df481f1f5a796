//! Where a session keeps its state between runs: one small trait, [`SessionStore`], over string
//! values by key, with a cross-process lock. Implementations: [`MemoryStore`] (this process only),
//! [`FileStore`] (JSON files, 0600, written to a temporary file, fsynced and renamed, with lock
//! files), `KeyringStore` (the OS keyring, feature `keyring`), and `WebStore` (the browser's
//! `localStorage` / `sessionStorage`, feature `web` on wasm32). What is stored (the session record, pending sign-ins) is decided by
//! [`crate::session`] and [`crate::oidc::StoredPendingSignIns`].

#[cfg(feature = "native")]
mod file;
#[cfg(feature = "keyring")]
mod keyring_store;
mod memory;
#[cfg(all(feature = "web", target_arch = "wasm32"))]
mod web;

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

#[cfg(feature = "native")]
pub use file::FileStore;
#[cfg(feature = "keyring")]
pub use keyring_store::KeyringStore;
pub use memory::MemoryStore;
#[cfg(all(feature = "web", target_arch = "wasm32"))]
pub use web::{WebStorage, WebStore};

/// A boxed future (the trait stays object-safe without an async-trait dependency).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A held lock; dropping it releases the lock.
pub type StoreLock = Box<dyn Any + Send + Sync>;

/// A storage failure (defined with the other errors).
pub(crate) use crate::error::StorageError;

/// String values by key, plus an exclusive lock per key that other processes sharing the same
/// store respect. Keys are made of `[A-Za-z0-9_.-]`.
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// The value under `key`, if any.
    fn load(&self, key: &str) -> Result<Option<String>, StorageError>;
    /// Replaces the value under `key`, atomically: a reader sees the old or the new value, never
    /// a mix, even if the writer dies midway.
    fn save(&self, key: &str, value: &str) -> Result<(), StorageError>;
    /// Removes `key` (absent is fine).
    fn remove(&self, key: &str) -> Result<(), StorageError>;
    /// Removes and returns the value; only one caller can take a given value.
    fn take(&self, key: &str) -> Result<Option<String>, StorageError>;
    /// The keys that start with `prefix`.
    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// Waits for the exclusive lock on `key`.
    fn lock<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<StoreLock, StorageError>>;
    /// Moves an unreadable value out of the way, keeping it for diagnosis where the store can
    /// (a file store renames it); returns where it went. The default removes it.
    fn set_aside(&self, key: &str) -> Result<Option<String>, StorageError> {
        self.remove(key)?;
        Ok(None)
    }
}

/// Locks by key within this process (the memory store's, and the browser stores' within one
/// page): an async mutex per key, made on first use.
#[derive(Debug, Default)]
pub(crate) struct KeyedLocks(
    std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
);

impl KeyedLocks {
    /// Waits for the lock on `key`.
    pub(crate) fn lock<'a>(&'a self, key: &str) -> BoxFuture<'a, Result<StoreLock, StorageError>> {
        let mutex = {
            let mut locks = self.0.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(key.to_string()).or_default().clone()
        };
        Box::pin(async move {
            let guard = mutex.lock_owned().await;
            Ok(Box::new(guard) as StoreLock)
        })
    }
}

/// Checks a key (it becomes a file name in [`FileStore`]).
pub(crate) fn check_key(key: &str) -> Result<(), StorageError> {
    let ok = !key.is_empty()
        && key.len() <= 200
        && !key.starts_with('.')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StorageError::new(
            format!("key \"{key}\""),
            "keys are [A-Za-z0-9_.-], not starting with '.'",
        ))
    }
}
