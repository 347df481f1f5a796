//! [`ServerSecret`]: the key derived SIP passwords come from. A password is
//! base64url(HMAC-SHA256(secret, issuer | subject | generation)), truncated to 24 bytes (32
//! characters, 192 bits): the same person gets the same password on every device until the
//! generation changes (rotation, deprovisioning), when the old one stops working at once.
//! [`PasswordIssuer`] decides, per provision, the derived password or a random one.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sipauth::SipPassword;

use crate::account::Account;
use crate::error::ProvisionError;

/// The server's password-derivation secret. Debug prints `[redacted]`.
#[derive(Clone)]
pub struct ServerSecret(Vec<u8>);

impl std::fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerSecret([redacted])")
    }
}

impl ServerSecret {
    /// A secret from bytes (at least 16).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, ProvisionError> {
        let bytes = bytes.into();
        if bytes.len() < 16 {
            return Err(ProvisionError::Config(
                "the server secret must be at least 16 bytes".into(),
            ));
        }
        Ok(Self(bytes))
    }

    /// Reads the secret from `path` (one trailing newline ignored); a missing file is an error
    /// (several instances must share one secret: none may make its own).
    pub fn load(path: &Path) -> Result<Self, ProvisionError> {
        match sipauth::read_secret_file(path) {
            Ok(text) => Self::new(text.secret().as_bytes().to_vec()),
            Err(e) => Err(ProvisionError::Config(format!(
                "secret file {}: {e}",
                path.display()
            ))),
        }
    }

    /// Reads the secret from `path` (one trailing newline ignored), or creates it there with
    /// 32 random bytes, mode 0600, when the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, ProvisionError> {
        let what = |e: std::io::Error| {
            ProvisionError::Config(format!("secret file {}: {e}", path.display()))
        };
        match sipauth::read_secret_file(path) {
            Ok(text) => Self::new(text.secret().as_bytes().to_vec()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret = sipauth::random_urlsafe(32)
                    .map_err(|e| ProvisionError::Config(e.to_string()))?;
                let mut file = sipauth::create_private_file(path).map_err(what)?;
                std::io::Write::write_all(&mut file, format!("{secret}\n").as_bytes())
                    .map_err(what)?;
                file.sync_all().map_err(what)?;
                Self::new(secret.into_bytes())
            }
            Err(e) => Err(what(e)),
        }
    }

    /// The key records shared by several instances are sealed with (the web page's sessions):
    /// derived from this secret under its own label, so every instance with the secret has it
    /// and no password is derivable from it.
    pub fn sealing_key(&self) -> sipauth::SealingKey {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(b"sipauth record sealing key v1");
        let bytes: [u8; 32] = mac.finalize().into_bytes().into();
        sipauth::SealingKey::new(&bytes)
    }

    /// The password of (issuer, subject) at this generation.
    pub fn password(&self, issuer: &str, subject: &str, generation: i64) -> SipPassword {
        self.derive(issuer, subject, generation, None)
    }

    /// The password of one device (its id) of (issuer, subject) at this generation: another
    /// for every device, none derivable from another's.
    pub fn device_password(
        &self,
        issuer: &str,
        subject: &str,
        generation: i64,
        device: &str,
    ) -> SipPassword {
        self.derive(issuer, subject, generation, Some(device))
    }

    fn derive(
        &self,
        issuer: &str,
        subject: &str,
        generation: i64,
        device: Option<&str>,
    ) -> SipPassword {
        // One key per secret; HMAC accepts any key length.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return SipPassword::new(String::new());
        };
        // Length-prefixed, so ("a|b", "c") and ("a", "b|c") never collide.
        for part in [issuer.as_bytes(), subject.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(&generation.to_be_bytes());
        // A device's: its id after the generation (a person's own password has nothing here,
        // so it is unchanged).
        if let Some(device) = device {
            mac.update(&(device.len() as u64).to_be_bytes());
            mac.update(device.as_bytes());
        }
        let digest = mac.finalize().into_bytes();
        SipPassword::new(URL_SAFE_NO_PAD.encode(&digest[..24]))
    }
}

/// Issues the password of a provision: derived from the [`ServerSecret`] (the same on every
/// device until the generation moves), or random on every provision when configured.
#[derive(Debug, Clone)]
pub(crate) struct PasswordIssuer {
    secret: ServerSecret,
    random: bool,
}

impl PasswordIssuer {
    /// The secret passwords derive from.
    pub(crate) fn secret(&self) -> &ServerSecret {
        &self.secret
    }

    pub(crate) fn new(secret: ServerSecret) -> Self {
        Self {
            secret,
            random: false,
        }
    }

    pub(crate) fn random(mut self, on: bool) -> Self {
        self.random = on;
        self
    }

    /// True when every provision issues a new password.
    pub(crate) fn is_random(&self) -> bool {
        self.random
    }

    /// The password a provision hands out.
    pub(crate) fn issue(&self, account: &Account) -> Result<SipPassword, ProvisionError> {
        if self.random {
            return sipauth::random_urlsafe(18)
                .map(SipPassword::new)
                .map_err(|e| ProvisionError::Config(e.to_string()));
        }
        Ok(self.derived(account))
    }

    /// The password a provision hands out to one device of the account.
    pub(crate) fn issue_for_device(
        &self,
        account: &Account,
        device: &str,
    ) -> Result<SipPassword, ProvisionError> {
        if self.random {
            return self.issue(account);
        }
        Ok(self.secret.device_password(
            &account.issuer,
            &account.subject,
            account.generation,
            device,
        ))
    }

    /// The derived password of the account's generation (what an operator's change writes).
    pub(crate) fn derived(&self, account: &Account) -> SipPassword {
        self.secret
            .password(&account.issuer, &account.subject, account.generation)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn passwords_are_stable_per_person_and_generation() {
        let secret = ServerSecret::new(b"0123456789abcdef0123".to_vec()).unwrap();
        let a = secret.password("https://idp", "alice", 0);
        assert_eq!(
            a.secret(),
            secret.password("https://idp", "alice", 0).secret()
        );
        assert_eq!(a.secret().len(), 32);
        assert_ne!(
            a.secret(),
            secret.password("https://idp", "alice", 1).secret()
        );
        assert_ne!(
            a.secret(),
            secret.password("https://idp", "bob", 0).secret()
        );
        assert_ne!(
            a.secret(),
            secret.password("https://other", "alice", 0).secret()
        );
        assert_ne!(
            secret.password("a|b", "c", 0).secret(),
            secret.password("a", "b|c", 0).secret()
        );
        assert!(!format!("{secret:?}").contains("0123"));
    }

    #[test]
    fn rejects_short_secrets_and_creates_missing_files_private() {
        assert!(ServerSecret::new(b"short".to_vec()).is_err());
        let dir = std::env::temp_dir().join(format!("sipauth-secret-{}", std::process::id()));
        let path = dir.join("secret");
        let _ = std::fs::remove_file(&path);
        let created = ServerSecret::load_or_create(&path).unwrap();
        let again = ServerSecret::load_or_create(&path).unwrap();
        assert_eq!(
            created.password("i", "s", 0).secret(),
            again.password("i", "s", 0).secret()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
