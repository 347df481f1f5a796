//! Randomness: base64url strings of bytes from the operating system's CSPRNG (the browser's Web
//! Crypto API on wasm32), for secrets (PKCE verifiers, state, nonce: [`crate::oidc`]) and for
//! anything else that must not collide (temporary file names). Only generation lives here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::ConfigError;

/// base64url (no padding) of `n` random bytes from the OS CSPRNG.
pub fn random_urlsafe(n: usize) -> Result<String, ConfigError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| ConfigError::Unsupported {
        field: "randomness",
        value: String::new(),
        reason: format!("the operating system's random number generator failed: {e}"),
    })?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}
