//! RFC 7662 introspection: the fuzzer's bytes as the answer about an opaque token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipauth::{AccessToken, ClientSecret, Introspector, Issuer, VerificationPolicy};
use sipauth_fuzz::{clock, http, run, CLIENT, ISSUER};

fuzz_target!(|data: &[u8]| {
    let introspector = Introspector::new(
        format!("{ISSUER}/introspect").parse().expect("url"),
        http(data),
        "resource-server",
        ClientSecret::new("s"),
        Issuer::new(ISSUER),
        clock(),
    );
    run(async {
        let _ = introspector
            .introspect(
                &AccessToken::new("opaque"),
                &VerificationPolicy::access_token([CLIENT]),
            )
            .await;
    });
});
