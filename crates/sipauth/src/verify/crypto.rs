//! Signature checks on native targets: jsonwebtoken's RustCrypto provider, with RSA (RS256/
//! 384/512, PS256/384/512) and ECDSA (ES256, ES384) verification done by `ring`, the library
//! rustls already brings. RustCrypto's RSA checks cost several times ring's (about 150 µs vs 30
//! µs for RS256 here), and the provisioning service checks a signature on every request. HMAC,
//! EdDSA, signing and JWK utilities stay RustCrypto's; in the browser, RustCrypto does it all.
//! Nothing here implements cryptography: it only maps jsonwebtoken's key forms to ring's.

use jsonwebtoken::crypto::{rust_crypto, CryptoProvider, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature::{self, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind};
use ring::signature as ring_sig;

enum Key {
    /// RSA modulus and exponent (from a JWK).
    RsaComponents { n: Vec<u8>, e: Vec<u8> },
    /// DER: a PKCS#1 RSA public key, or an uncompressed SEC1 EC point.
    Der(Vec<u8>),
}

struct RingVerifier {
    algorithm: Algorithm,
    params: &'static dyn ring_sig::VerificationAlgorithm,
    rsa: Option<&'static ring_sig::RsaParameters>,
    key: Key,
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        let ok = match (&self.key, self.rsa) {
            (Key::RsaComponents { n, e }, Some(params)) => {
                ring_sig::RsaPublicKeyComponents { n, e }
                    .verify(params, msg, sig)
                    .is_ok()
            }
            (Key::Der(der), _) => ring_sig::UnparsedPublicKey::new(self.params, der)
                .verify(msg, sig)
                .is_ok(),
            (Key::RsaComponents { .. }, None) => false,
        };
        if ok {
            Ok(())
        } else {
            Err(signature::Error::new())
        }
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    let (params, rsa, family): (
        &'static dyn ring_sig::VerificationAlgorithm,
        Option<&'static ring_sig::RsaParameters>,
        AlgorithmFamily,
    ) = match algorithm {
        Algorithm::RS256 => (
            &ring_sig::RSA_PKCS1_2048_8192_SHA256,
            Some(&ring_sig::RSA_PKCS1_2048_8192_SHA256),
            AlgorithmFamily::Rsa,
        ),
        Algorithm::RS384 => (
            &ring_sig::RSA_PKCS1_2048_8192_SHA384,
            Some(&ring_sig::RSA_PKCS1_2048_8192_SHA384),
            AlgorithmFamily::Rsa,
        ),
        Algorithm::RS512 => (
            &ring_sig::RSA_PKCS1_2048_8192_SHA512,
            Some(&ring_sig::RSA_PKCS1_2048_8192_SHA512),
            AlgorithmFamily::Rsa,
        ),
        Algorithm::PS256 => (
            &ring_sig::RSA_PSS_2048_8192_SHA256,
            Some(&ring_sig::RSA_PSS_2048_8192_SHA256),
            AlgorithmFamily::Rsa,
        ),
        Algorithm::PS384 => (
            &ring_sig::RSA_PSS_2048_8192_SHA384,
            Some(&ring_sig::RSA_PSS_2048_8192_SHA384),
            AlgorithmFamily::Rsa,
        ),
        Algorithm::PS512 => (
            &ring_sig::RSA_PSS_2048_8192_SHA512,
            Some(&ring_sig::RSA_PSS_2048_8192_SHA512),
            AlgorithmFamily::Rsa,
        ),
        Algorithm::ES256 => (
            &ring_sig::ECDSA_P256_SHA256_FIXED,
            None,
            AlgorithmFamily::Ec,
        ),
        Algorithm::ES384 => (
            &ring_sig::ECDSA_P384_SHA384_FIXED,
            None,
            AlgorithmFamily::Ec,
        ),
        // HMAC and EdDSA: RustCrypto's.
        _ => return (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(algorithm, key),
    };
    if key.family() != family {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let key = match key.kind() {
        DecodingKeyKind::RsaModulusExponent { n, e } => Key::RsaComponents {
            n: n.clone(),
            e: e.clone(),
        },
        DecodingKeyKind::SecretOrDer(der) => Key::Der(der.clone()),
    };
    Ok(Box::new(RingVerifier {
        algorithm: *algorithm,
        params,
        rsa,
        key,
    }))
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: |alg, key| (rust_crypto::DEFAULT_PROVIDER.signer_factory)(alg, key),
    verifier_factory: verifier,
    key_utils: jsonwebtoken::crypto::KeyUtils {
        rsa_pub_components_from_private_key: |der| {
            (rust_crypto::DEFAULT_PROVIDER
                .key_utils
                .rsa_pub_components_from_private_key)(der)
        },
        rsa_pub_components_from_public_key: |der| {
            (rust_crypto::DEFAULT_PROVIDER
                .key_utils
                .rsa_pub_components_from_public_key)(der)
        },
        ec_pub_components_from_private_key: |der, alg| {
            (rust_crypto::DEFAULT_PROVIDER
                .key_utils
                .ec_pub_components_from_private_key)(der, alg)
        },
        ed_pub_components_from_private_key: |der, curve| {
            (rust_crypto::DEFAULT_PROVIDER
                .key_utils
                .ed_pub_components_from_private_key)(der, curve)
        },
        compute_digest: |data, hash| {
            (rust_crypto::DEFAULT_PROVIDER.key_utils.compute_digest)(data, hash)
        },
    },
};

/// Makes ring-backed verification jsonwebtoken's default in this process (once; when another
/// provider was installed first, that one stays).
pub(crate) fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = PROVIDER.install_default();
    });
}
