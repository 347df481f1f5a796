//! Where a profile keeps its state: the data directory, the session store (memory, 0600 files,
//! the OS keyring), and the settings saved at the last login for the commands that follow.

use std::path::PathBuf;
use std::sync::Arc;

use sipauth::SessionStore;
use sipauth::{FileStore, MemoryStore};

use crate::error::CliError;
use crate::opt::{Global, StoreKind};

use super::Resolved;

/// The data directory: `--data-dir`, else `<data dir>/sipauth` (the service's, and the
/// profiles' parent).
pub fn data_dir(global: &Global) -> Result<PathBuf, CliError> {
    match &global.data_dir {
        Some(d) => Ok(d.clone()),
        None => dirs::data_dir().map(|d| d.join("sipauth")).ok_or_else(|| {
            CliError::config("no data directory: set --data-dir or SIPAUTH_DATA_DIR")
        }),
    }
}

/// A profile's directory: `--data-dir` itself when given, else `<data dir>/sipauth/<name>`.
fn profile_dir(global: &Global, name: &str) -> Result<PathBuf, CliError> {
    let root = data_dir(global)?;
    Ok(match &global.data_dir {
        Some(_) => root,
        None => root.join(name),
    })
}

/// Opens the store for a profile.
pub fn open_store(global: &Global, name: &str) -> Result<Arc<dyn SessionStore>, CliError> {
    let kind = global.store.unwrap_or(StoreKind::Auto);
    // Linux's kernel keyring (the only backend built without D-Bus) does not survive a reboot,
    // so "auto" means a 0600 file there and the OS keyring on macOS and Windows.
    let use_keyring = match kind {
        StoreKind::Keyring => true,
        StoreKind::Auto => cfg!(any(target_os = "macos", target_os = "windows")),
        _ => false,
    };
    Ok(match kind {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        _ if use_keyring => Arc::new(sipauth::KeyringStore::new(format!("sipauth.{name}"))),
        _ => Arc::new(
            FileStore::new(profile_dir(global, name)?)
                .map_err(|e| CliError::config(e.to_string()))?,
        ),
    })
}

pub(super) const SAVED_PROFILE: &str = "sipauth_profile";

/// Remembers the settings of a successful login, for the commands that follow. Secrets given
/// inline (`--client-secret`, `--hmac-secret`, `--static-password`) are not saved: the saved
/// settings are a plain file on Linux. Their `*_file` paths are.
pub fn save_profile(resolved: &Resolved) {
    let mut profile = resolved.profile.clone();
    let dropped: Vec<&str> = [
        ("--client-secret", profile.provider.client_secret.take()),
        ("--hmac-secret", profile.strategy.hmac_secret.take()),
        ("--static-password", profile.strategy.static_password.take()),
    ]
    .into_iter()
    .filter_map(|(flag, v)| v.map(|_| flag))
    .collect();
    if !dropped.is_empty() {
        crate::output::say(&format!(
            "note: {} not saved; give it again (its SIPAUTH_* variable, a *-file flag, or the config file) for later commands",
            dropped.join(", ")
        ));
    }
    if let Ok(json) = serde_json::to_string(&profile) {
        if let Err(e) = resolved.store.save(SAVED_PROFILE, &json) {
            tracing::warn!(error = %e, "cannot save the login settings");
        }
    }
}
