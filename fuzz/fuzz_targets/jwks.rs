//! A provider's key set: the fuzzer's bytes as the `jwks_uri` answer (and the refetch's), then
//! a key asked for by kid and algorithm family.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipauth::{JwksCache, VerifyOptions};
use sipauth_fuzz::{clock, http, run, ISSUER};

fuzz_target!(|data: &[u8]| {
    let jwks = JwksCache::new(
        format!("{ISSUER}/jwks").parse().expect("url"),
        http(data),
        clock(),
        VerifyOptions::default(),
    );
    run(async {
        for (kid, alg) in [
            (Some("k1"), jsonwebtoken::Algorithm::RS256),
            (None, jsonwebtoken::Algorithm::ES256),
            (Some("k2"), jsonwebtoken::Algorithm::EdDSA),
        ] {
            let _ = jwks.key_for(kid, alg).await;
        }
    });
});
