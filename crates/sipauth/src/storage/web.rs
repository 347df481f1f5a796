//! Browser storage for sessions: [`WebStore`] over `localStorage` (survives restarts, shared by
//! the origin's tabs) or `sessionStorage` (this tab, survives reloads and the sign-in
//! redirect), keys under a prefix. The store holds no JavaScript object (it is `Send` and
//! `Sync` as the trait requires); every call asks the window for its storage. Locks are the
//! Web Locks API's (`navigator.locks`), named `<prefix><key>`, so the tabs of an origin sharing
//! `localStorage` refresh one at a time and the later ones adopt the first one's tokens; where
//! a browser has no Web Locks, locks order the callers of this page only.

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
        let name = match self.full(key) {
            Ok(name) => name,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        match web_locks() {
            Some(manager) => Box::pin(send_wrapper::SendWrapper::new(web_lock(manager, name))),
            None => self.locks.lock(key),
        }
    }
}

/// `navigator.locks`, where the browser has it (secure contexts, which include loopback).
fn web_locks() -> Option<wasm_bindgen::JsValue> {
    let navigator = web_sys::window()?.navigator();
    js_sys::Reflect::get(&navigator, &"locks".into())
        .ok()
        .filter(|m| m.is_object())
}

/// Held while alive: dropping it settles the promise the lock's callback returned, which
/// releases the lock.
struct WebLock(send_wrapper::SendWrapper<js_sys::Function>);

impl Drop for WebLock {
    fn drop(&mut self) {
        let _ = self.0.call0(&wasm_bindgen::JsValue::UNDEFINED);
    }
}

/// `navigator.locks.request(name, callback)`, resolved when the callback runs (the lock is
/// granted); the callback's promise stays pending until the [`WebLock`] is dropped.
async fn web_lock(manager: wasm_bindgen::JsValue, name: String) -> Result<StoreLock, StorageError> {
    use wasm_bindgen::{JsCast, JsValue};
    let mut release = None;
    let held = js_sys::Promise::new(&mut |resolve, _| release = Some(resolve));
    let mut grant = None;
    let granted = js_sys::Promise::new(&mut |resolve, _| grant = Some(resolve));
    let (Some(release), Some(grant)) = (release, grant) else {
        return Err(failed(&name, "a promise did not hand out its resolver"));
    };
    // The guard exists before the grant: if this future is dropped while waiting (a timeout, an
    // unmounted caller) or fails, `held` is already settled when the browser grants the lock
    // later, so the lock is released at once instead of being held by nobody forever.
    let guard = WebLock(send_wrapper::SendWrapper::new(release));
    let callback = wasm_bindgen::closure::Closure::once_into_js(move |_lock: JsValue| -> JsValue {
        let _ = grant.call0(&JsValue::UNDEFINED);
        held.into()
    });
    let request = js_sys::Reflect::get(&manager, &"request".into())
        .map_err(|e| failed(&name, e))?
        .dyn_into::<js_sys::Function>()
        .map_err(|e| failed(&name, e))?;
    let requested = request
        .call2(&manager, &JsValue::from_str(&name), &callback)
        .map_err(|e| failed(&name, e))?
        .dyn_into::<js_sys::Promise>()
        .map_err(|e| failed(&name, e))?;
    // The request's own promise settles only after release, unless the browser refuses the
    // request: then it rejects before any grant, and waiting for the grant would hang.
    let granted = wasm_bindgen_futures::JsFuture::from(granted);
    let requested = wasm_bindgen_futures::JsFuture::from(requested);
    match futures_util::future::select(granted, requested).await {
        futures_util::future::Either::Left((Ok(_), _)) => Ok(Box::new(guard) as StoreLock),
        futures_util::future::Either::Left((Err(e), _))
        | futures_util::future::Either::Right((Err(e), _)) => Err(failed(&name, e)),
        futures_util::future::Either::Right((Ok(_), _)) => Err(failed(
            &name,
            "the lock request ended before it was granted",
        )),
    }
}
