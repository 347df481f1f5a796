//! JOSE header and claims: a token whose header and payload are the fuzzer's bytes, HS256-signed
//! with the client secret, through the library's verifier as an ID token (signature, `alg`,
//! `typ`, `crit`, every claim check); and the raw input as a compact token, as a bearer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipauth::{ClientSecret, Issuer, JwksCache, TokenVerifier, VerificationPolicy, VerifyOptions};
use sipauth_fuzz::{clock, hs256, http, run, two, CLIENT, ISSUER};

const SECRET: &str = "fuzz-client-secret-of-some-length";

fuzz_target!(|data: &[u8]| {
    let (header, payload) = two(data);
    let token = hs256(header, payload, SECRET.as_bytes());
    let jwks = JwksCache::new(
        format!("{ISSUER}/jwks").parse().expect("url"),
        http(b""),
        clock(),
        VerifyOptions::default(),
    );
    let verifier = TokenVerifier::new(Issuer::new(ISSUER), Some(jwks), clock());
    let mut policy = VerificationPolicy::id_token(CLIENT);
    policy.hmac_secret = Some(ClientSecret::new(SECRET));
    run(async {
        let _ = verifier.verify_jwt(&token, &policy).await;
        let _ = verifier
            .verify_jwt(
                &String::from_utf8_lossy(data),
                &VerificationPolicy::bearer([CLIENT]),
            )
            .await;
    });
});
