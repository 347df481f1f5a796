//! The secrets of a sign-in: the PKCE verifier and its S256 challenge (RFC 7636), `state` and
//! `nonce`. Values are base64url of 32 bytes from [`crate::random`] (256 bits, no modulo bias,
//! only unreserved characters). This module owns making them; keeping and checking them is
//! [`super::authorize`]'s and [`super::pending`]'s job.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::ConfigError;
use crate::random::random_urlsafe;
use crate::secret::{CsrfState, Nonce, PkceVerifier};

const RANDOM_BYTES: usize = 32;

pub(crate) fn new_verifier() -> Result<PkceVerifier, ConfigError> {
    random_urlsafe(RANDOM_BYTES).map(PkceVerifier::new)
}

/// The S256 challenge for a verifier: base64url(SHA-256(verifier)).
pub(crate) fn s256_challenge(verifier: &PkceVerifier) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.secret().as_bytes()))
}

/// A fresh `state` (256 bits).
pub(crate) fn new_state() -> Result<CsrfState, ConfigError> {
    random_urlsafe(RANDOM_BYTES).map(CsrfState::new)
}

/// A fresh `nonce` (256 bits).
pub(crate) fn new_nonce() -> Result<Nonce, ConfigError> {
    random_urlsafe(RANDOM_BYTES).map(Nonce::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc7636_appendix_b() {
        let verifier = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(
            s256_challenge(&verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifier_is_long_unreserved_and_fresh() {
        let a = new_verifier().unwrap();
        let b = new_verifier().unwrap();
        assert_eq!(a.secret().len(), 43);
        assert!(a
            .secret()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, b);
    }

    #[test]
    fn state_and_nonce_have_at_least_128_bits() {
        // 43 base64url characters carry 258 bits; anything over 22 would be 128.
        assert!(new_state().unwrap().secret().len() >= 22);
        assert!(new_nonce().unwrap().secret().len() >= 22);
        assert_ne!(new_state().unwrap(), new_state().unwrap());
    }
}
