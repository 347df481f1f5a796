//! RFC 7009: the fuzzer's bytes as the revocation endpoint's answers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipauth::{OidcClient, TokenTypeHint};
use sipauth_fuzz::{clock, http, provider, run};

fuzz_target!(|data: &[u8]| {
    if let Ok(client) = OidcClient::builder(provider(Some("s3cret-of-the-client")))
        .http(http(data))
        .clock(clock())
        .build()
    {
        run(async {
            let _ = client.revoke("token", TokenTypeHint::RefreshToken).await;
            let _ = client.revoke("token", TokenTypeHint::AccessToken).await;
        });
    }
});
