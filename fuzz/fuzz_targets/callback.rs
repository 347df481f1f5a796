//! Callback URLs: the fuzzer's text as the URL the browser came back to, for a started
//! sign-in (the state, `iss`, error and code checks before any token request).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipauth::{AuthorizationOptions, OidcClient};
use sipauth_fuzz::{clock, http, provider, run};

fuzz_target!(|data: &[u8]| {
    let Ok(client) = OidcClient::builder(provider(None))
        .http(http(b""))
        .clock(clock())
        .build()
    else {
        return;
    };
    let text = String::from_utf8_lossy(data);
    run(async {
        let _ = client.authorization_request(&AuthorizationOptions::default());
        let _ = client.handle_callback(&text).await;
    });
});
