//! [`Backend`]: how a SIP server learns the password. Kept small so Asterisk (PJSIP realtime)
//! and FreeSWITCH (directory over HTTP) fit later.
//! - [`Backend::KamailioSubscriber`]: Kamailio 5.6's `auth_db` reads the `subscriber` row this
//!   service writes in the same transaction as the account: `ha1` = MD5(user:realm:password),
//!   `ha1b` = MD5(user@domain:realm:password), lowercase hex (Kamailio refuses uppercase), for
//!   `calculate_ha1 = 0`; the plaintext `password` column only when configured.
//! - [`Backend::Ephemeral`]: Kamailio `auth_ephemeral`: nothing is written; the authorization
//!   username is `<expiry>:<user>` and the password base64(HMAC-SHA1 or -SHA256 of the shared
//!   secret over it), valid until the expiry.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sipauth::sip::HmacAlgorithm;
use sipauth::SipPassword;

/// Where the SIP server finds the credentials.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Backend {
    /// Kamailio `auth_db` over the `subscriber` table.
    KamailioSubscriber {
        /// Also fill the plaintext `password` column (for `calculate_ha1 = 1`).
        store_plaintext: bool,
    },
    /// Kamailio `auth_ephemeral` with a shared secret.
    Ephemeral {
        /// The secret shared with Kamailio.
        secret: SipPassword,
        /// HMAC-SHA1 (Kamailio's default) or HMAC-SHA256.
        algorithm: HmacAlgorithm,
        /// How long the credentials live.
        ttl: Duration,
    },
}

/// lowercase hex MD5 of `user:realm:password` (RFC 2617 HA1).
pub fn ha1(user: &str, realm: &str, password: &str) -> String {
    let digest = Md5::digest(format!("{user}:{realm}:{password}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `subscriber` row for a username, domain, realm and password.
pub(crate) struct SubscriberRow {
    pub password: String,
    pub ha1: String,
    pub ha1b: String,
}

impl SubscriberRow {
    pub(crate) fn new(
        username: &str,
        domain: &str,
        realm: &str,
        password: &SipPassword,
        store_plaintext: bool,
    ) -> Self {
        Self {
            password: if store_plaintext {
                password.secret().to_string()
            } else {
                String::new()
            },
            ha1: ha1(username, realm, password.secret()),
            ha1b: ha1(&format!("{username}@{domain}"), realm, password.secret()),
        }
    }
}

/// Ephemeral credentials: (authorization username, password, expiry).
pub(crate) fn ephemeral(
    secret: &SipPassword,
    algorithm: HmacAlgorithm,
    ttl: Duration,
    username: &str,
    now: i64,
) -> (String, SipPassword, i64) {
    let expiry = now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
    let auth_user = format!("{expiry}:{username}");
    let mac = match algorithm {
        HmacAlgorithm::Sha256 => Hmac::<sha2::Sha256>::new_from_slice(secret.secret().as_bytes())
            .map(|mut m| {
                m.update(auth_user.as_bytes());
                m.finalize().into_bytes().to_vec()
            }),
        _ => Hmac::<sha1::Sha1>::new_from_slice(secret.secret().as_bytes()).map(|mut m| {
            m.update(auth_user.as_bytes());
            m.finalize().into_bytes().to_vec()
        }),
    }
    .unwrap_or_default();
    (auth_user, SipPassword::new(STANDARD.encode(mac)), expiry)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ha1_is_rfc2617_lowercase_hex() {
        // RFC 2617 §3.5: Mufasa:testrealm@host.com:Circle Of Life.
        assert_eq!(
            ha1("Mufasa", "testrealm@host.com", "Circle Of Life"),
            "939e7578ed9e3c518a452acee763bce9"
        );
    }

    #[test]
    fn ephemeral_credentials_follow_auth_ephemeral() {
        let secret = SipPassword::new("s3cret");
        let (user, pass, expiry) = ephemeral(
            &secret,
            HmacAlgorithm::Sha1,
            Duration::from_secs(60),
            "alice",
            1000,
        );
        assert_eq!(user, "1060:alice");
        assert_eq!(expiry, 1060);
        // base64(HMAC-SHA1("s3cret", "1060:alice")), as Kamailio computes it.
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"s3cret").unwrap();
        mac.update(b"1060:alice");
        assert_eq!(pass.secret(), STANDARD.encode(mac.finalize().into_bytes()));
        let row = SubscriberRow::new("alice", "sip.example.com", "sip.example.com", &pass, false);
        assert!(row.password.is_empty());
        assert_eq!(row.ha1.len(), 32);
        assert_ne!(row.ha1, row.ha1b);
    }
}
