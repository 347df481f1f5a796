//! The development identity provider's signing key: RSA 2048 (RS256), generated once and kept in
//! the data directory (0600), so tokens and JWKS survive restarts. Generation and signing are the
//! `rsa` and `jsonwebtoken` crates'; this file only stores and publishes the key.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand_core::OsRng;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

/// The key and its id.
pub(super) struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Loads the key from `path` (PKCS#1 DER), or generates and stores one there.
    pub(super) fn load_or_create(path: &Path) -> Result<Self, String> {
        let key = match std::fs::read(path) {
            Ok(der) => RsaPrivateKey::from_pkcs1_der(&der)
                .map_err(|e| format!("{}: not an RSA key: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = RsaPrivateKey::new(&mut OsRng, 2048)
                    .map_err(|e| format!("cannot make a signing key: {e}"))?;
                let der = key
                    .to_pkcs1_der()
                    .map_err(|e| format!("cannot encode the signing key: {e}"))?;
                write_private(path, der.as_bytes())?;
                key
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let der = key
            .to_pkcs1_der()
            .map_err(|e| format!("cannot encode the signing key: {e}"))?;
        let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
        // The key id: a digest of the public key, so a new key gets a new id.
        let kid = {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(format!("{n}.{e}").as_bytes());
            URL_SAFE_NO_PAD.encode(&digest[..12])
        };
        let jwk = json!({ "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e });
        Ok(Self {
            kid,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            jwk,
        })
    }

    /// The JWKS document.
    pub(super) fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk.clone()] })
    }

    /// Signs `claims` as an RS256 JWT of type `typ`.
    pub(super) fn sign(&self, claims: &Value, typ: &str) -> Result<String, String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        header.typ = Some(typ.to_string());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| e.to_string())
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let what = |e: std::io::Error| format!("{}: {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        sipauth::create_private_dir(dir).map_err(what)?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(what)?;
    std::io::Write::write_all(&mut file, bytes).map_err(what)?;
    file.sync_all().map_err(what)?;
    std::fs::rename(&tmp, path).map_err(what)
}
