//! Signing keys of our own, for forging ID tokens the library must accept or reject: ES256 keys
//! generated per test (nothing secret is committed), published as a JWK. Tokens are signed with
//! the RustCrypto crates directly, not through jsonwebtoken: its process-wide crypto provider is
//! the library's to choose (ring on native targets), and a test signing first must not choose it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;
use jsonwebtoken::{Algorithm, Header};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};

/// `header.claims.signature`, with `sign` over the first two parts.
fn compact(header: &Header, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap_or_default());
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{body}");
    let signature = URL_SAFE_NO_PAD.encode(sign(input.as_bytes()));
    format!("{input}.{signature}")
}

/// An ES256 key pair with a key id.
pub struct TestKey {
    pub kid: String,
    signing: SigningKey,
    jwk: Value,
}

impl TestKey {
    /// A fresh key.
    pub fn generate(kid: &str) -> Self {
        let signing = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let point = signing.verifying_key().to_encoded_point(false);
        let (x, y) = (point.x().map(|x| x.to_vec()), point.y().map(|y| y.to_vec()));
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(x.unwrap_or_default()),
            "y": URL_SAFE_NO_PAD.encode(y.unwrap_or_default()),
        });
        Self {
            kid: kid.to_string(),
            signing,
            jwk,
        }
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        self.jwk.clone()
    }

    /// A JWKS document holding these keys.
    pub fn jwks(keys: &[&TestKey]) -> Value {
        json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
    }

    /// Signs claims as an ES256 JWT with this key's kid.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(claims, &self.kid)
    }

    /// Signs claims with a header of the test's making (start: ES256 with this key's kid).
    pub fn sign_with_header(&self, claims: &Value, edit: impl FnOnce(&mut Header)) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        edit(&mut header);
        self.sign_header(&header, claims)
    }

    /// Signs claims, putting another kid in the header (a kid the verifier does not know).
    pub fn sign_as(&self, claims: &Value, kid: &str) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_string());
        self.sign_header(&header, claims)
    }

    fn sign_header(&self, header: &Header, claims: &Value) -> String {
        compact(header, claims, |input| {
            let signature: Signature = self.signing.sign(input);
            signature.to_bytes().to_vec()
        })
    }
}

/// An unsigned token (`alg: none`).
pub fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{body}.")
}

/// An HS256 token signed with `secret`.
pub fn hs256(claims: &Value, secret: &[u8]) -> String {
    compact(&Header::new(Algorithm::HS256), claims, |input| {
        match hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) {
            Ok(mut mac) => {
                mac.update(input);
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    })
}
