//! The token endpoint: a started sign-in's callback, then the fuzzer's bytes as the token
//! answer (and the userinfo and key set answers after it); a refresh with the same answers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipauth::{AuthorizationOptions, OidcClient, RefreshToken};
use sipauth_fuzz::{clock, http, provider, run};

fuzz_target!(|data: &[u8]| {
    let Ok(client) = OidcClient::builder(provider(Some("secret-of-the-fuzz-client")))
        .http(http(data))
        .clock(clock())
        .build()
    else {
        return;
    };
    run(async {
        if let Ok(request) = client.authorization_request(&AuthorizationOptions::default()) {
            let callback = format!(
                "http://127.0.0.1:4000/callback?code=c&state={}&iss=https%3A%2F%2Fidp.example.com",
                request.state.secret()
            );
            let _ = client.handle_callback(&callback).await;
        }
        let _ = client.refresh(&RefreshToken::new("r")).await;
    });
});
