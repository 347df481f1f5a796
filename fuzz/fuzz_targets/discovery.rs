//! Discovery: the fuzzer's bytes as `/.well-known/openid-configuration` (and, when it sends
//! the client there, as RFC 8414 metadata), then a provider configuration made from it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipauth::{ClientRegistration, ProviderConfig};
use sipauth_fuzz::{http, run, ISSUER};

fuzz_target!(|data: &[u8]| {
    let http = http(data);
    run(async {
        let _ = sipauth::fetch_discovery_document(&http, ISSUER).await;
        let _ = ProviderConfig::discover(
            &http,
            ISSUER,
            ClientRegistration::public("c", "http://127.0.0.1:1/cb"),
        )
        .await;
    });
});
