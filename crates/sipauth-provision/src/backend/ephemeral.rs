//! Kamailio `auth_ephemeral`: nothing is written; the authorization username is
//! `<expiry>:<user>` and the password base64(HMAC-SHA1 or -SHA256 of the shared secret over
//! it), valid until the expiry. The MAC is the library's
//! ([`sipauth::sip::ephemeral_credentials`]), the one function the command's `hmac_ephemeral`
//! strategy uses too.

use std::time::Duration;

use sipauth::sip::HmacAlgorithm;
use sipauth::SipPassword;

use super::Presented;
use crate::error::ProvisionError;

/// The credentials of `username` from `now` for `ttl`.
pub(super) fn presented(
    secret: &SipPassword,
    algorithm: HmacAlgorithm,
    ttl: Duration,
    username: &str,
    now: i64,
) -> Result<Presented, ProvisionError> {
    let expiry = now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
    let (authorization_username, password) = sipauth::sip::ephemeral_credentials(
        algorithm,
        secret.secret().as_bytes(),
        username,
        expiry,
    )
    .map_err(|e| ProvisionError::Config(e.to_string()))?;
    Ok(Presented {
        authorization_username,
        password,
        expires_at: Some(expiry),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use hmac::{Hmac, Mac};

    use super::*;

    #[test]
    fn ephemeral_credentials_follow_auth_ephemeral() {
        let secret = SipPassword::new("s3cret");
        let p = presented(
            &secret,
            HmacAlgorithm::Sha1,
            Duration::from_secs(60),
            "alice",
            1000,
        )
        .unwrap();
        assert_eq!(p.authorization_username, "1060:alice");
        assert_eq!(p.expires_at, Some(1060));
        // base64(HMAC-SHA1("s3cret", "1060:alice")), as Kamailio computes it.
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"s3cret").unwrap();
        mac.update(b"1060:alice");
        assert_eq!(
            p.password.secret(),
            STANDARD.encode(mac.finalize().into_bytes())
        );
    }
}
