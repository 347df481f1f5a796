//! RFC 8628: the fuzzer's bytes as the device authorization answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipauth::OidcClient;
use sipauth_fuzz::{clock, http, provider, run};

fuzz_target!(|data: &[u8]| {
    if let Ok(client) = OidcClient::builder(provider(None))
        .http(http(data))
        .clock(clock())
        .build()
    {
        run(async {
            let _ = client.start_device_authorization().await;
        });
    }
});
