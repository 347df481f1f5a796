//! Records a service keeps outside its process (a shared database, for several instances):
//! [`SealingKey`] seals bytes with AES-256-GCM (ring's, the library rustls already brings; a
//! random 96-bit nonce per record, the record's kind as associated data), so a stored record is
//! neither readable nor alterable without the key. [`SealedIdentity`] is a [`VerifiedIdentity`]
//! kept that way: opening it under the same key is the only way back to the identity, so the
//! proof that verification happened survives a trip through storage and nothing else can mint
//! one. Native targets only. Nothing here implements cryptography.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{VerifiedBy, VerifiedIdentity};

/// A 256-bit key for records kept outside the process. Its `Debug` prints `[redacted]`.
pub struct SealingKey(LessSafeKey);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey([redacted])")
    }
}

/// A record could not be sealed (the system's randomness failed).
#[derive(Debug, thiserror::Error)]
#[error("cannot seal a record: no randomness for its nonce")]
pub struct SealError;

impl SealingKey {
    /// The key made of these 32 bytes (derive them from a shared secret: every instance that
    /// opens a record needs the same).
    pub fn new(bytes: &[u8; 32]) -> Self {
        // A 32-byte key is always a valid AES-256 key.
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_or_else(
            |_| unreachable!("AES-256-GCM takes any 32 bytes"),
            LessSafeKey::new,
        );
        Self(key)
    }

    /// `plaintext` sealed for records of `kind`: URL-safe text (nonce, ciphertext, tag).
    pub fn seal(&self, kind: &str, plaintext: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| SealError)?;
        let mut sealed = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kind.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| SealError)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// The plaintext of a record of `kind` this key sealed; `None` for anything else (another
    /// key, another kind, a changed byte, not a record at all).
    pub fn open(&self, kind: &str, sealed: &str) -> Option<Vec<u8>> {
        let raw = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(kind.as_bytes()), &mut body)
            .ok()?;
        Some(plain.to_vec())
    }
}

/// The associated data of a sealed identity: no other record opens as one.
const IDENTITY_KIND: &str = "sipauth verified identity v1";

/// A [`VerifiedIdentity`] sealed under a [`SealingKey`] ([`VerifiedIdentity::seal`]): store it
/// anywhere; [`open`](Self::open) it with the same key to have the identity again.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SealedIdentity(String);

impl std::fmt::Debug for SealedIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedIdentity([sealed])")
    }
}

/// What a sealed identity holds (the identity's fields, private to this module).
#[derive(Serialize, Deserialize)]
struct Fields {
    issuer: String,
    subject: String,
    audiences: Vec<String>,
    expires_at: Option<i64>,
    verified_by: VerifiedBy,
    claims: Map<String, Value>,
}

impl VerifiedIdentity {
    /// This identity sealed under `key`, to keep outside the process.
    pub fn seal(&self, key: &SealingKey) -> Result<SealedIdentity, SealError> {
        let fields = Fields {
            issuer: self.issuer.clone(),
            subject: self.subject.clone(),
            audiences: self.audiences.clone(),
            expires_at: self.expires_at,
            verified_by: self.verified_by,
            claims: self.claims.clone(),
        };
        let json = serde_json::to_vec(&fields).map_err(|_| SealError)?;
        key.seal(IDENTITY_KIND, &json).map(SealedIdentity)
    }
}

impl SealedIdentity {
    /// The identity, when `key` sealed it; `None` for another key or an altered record.
    pub fn open(&self, key: &SealingKey) -> Option<VerifiedIdentity> {
        let json = key.open(IDENTITY_KIND, &self.0)?;
        let f: Fields = serde_json::from_slice(&json).ok()?;
        Some(VerifiedIdentity {
            issuer: f.issuer,
            subject: f.subject,
            audiences: f.audiences,
            expires_at: f.expires_at,
            verified_by: f.verified_by,
            claims: f.claims,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn identity() -> VerifiedIdentity {
        let mut claims = Map::new();
        claims.insert("email".into(), "ana@example.com".into());
        VerifiedIdentity {
            issuer: "https://idp.example".into(),
            subject: "ana".into(),
            audiences: vec!["app".into()],
            expires_at: Some(100),
            verified_by: VerifiedBy::IdToken,
            claims,
        }
    }

    #[test]
    fn a_sealed_identity_opens_as_itself_under_its_key() {
        let key = SealingKey::new(&[7; 32]);
        let sealed = identity().seal(&key).unwrap();
        assert_eq!(sealed.open(&key), Some(identity()));
        // Stored as JSON and read back, it is the same record.
        let json = serde_json::to_string(&sealed).unwrap();
        let back: SealedIdentity = serde_json::from_str(&json).unwrap();
        assert_eq!(back.open(&key), Some(identity()));
        assert!(!json.contains("ana"), "{json}");
    }

    #[test]
    fn rejects_another_key_an_altered_record_and_another_kind() {
        let key = SealingKey::new(&[7; 32]);
        let sealed = identity().seal(&key).unwrap();
        assert_eq!(sealed.open(&SealingKey::new(&[8; 32])), None);
        let mut altered = sealed.0.clone().into_bytes();
        let last = altered.len() - 3;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = SealedIdentity(String::from_utf8(altered).unwrap());
        assert_eq!(altered.open(&key), None);
        // A record of another kind, sealed from the same bytes, is not an identity.
        let other = key.seal("session", b"{}").unwrap();
        assert_eq!(SealedIdentity(other).open(&key), None);
        assert_eq!(SealedIdentity("not a record".into()).open(&key), None);
        assert_eq!(SealedIdentity(String::new()).open(&key), None);
    }

    #[test]
    fn two_seals_of_one_record_differ() {
        let key = SealingKey::new(&[1; 32]);
        assert_ne!(key.seal("k", b"x").unwrap(), key.seal("k", b"x").unwrap());
    }

    #[test]
    fn debug_never_prints_the_key_or_the_record() {
        let key = SealingKey::new(&[0x41; 32]);
        assert_eq!(format!("{key:?}"), "SealingKey([redacted])");
        let sealed = identity().seal(&key).unwrap();
        assert_eq!(format!("{sealed:?}"), "SealedIdentity([sealed])");
    }
}
