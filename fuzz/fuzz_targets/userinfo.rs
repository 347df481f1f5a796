//! Userinfo: the fuzzer's bytes (with a `WWW-Authenticate` header when it says so) as the
//! answer, as a verification path of its own and as a signed-in client's profile.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipauth::{AccessToken, Issuer, OidcClient, TokenSet};
use sipauth_fuzz::{clock, http, provider, run, ISSUER};

fuzz_target!(|data: &[u8]| {
    let http = http(data);
    run(async {
        let endpoint = format!("{ISSUER}/userinfo").parse().expect("url");
        let _ = sipauth::verify_by_userinfo(
            &http,
            &endpoint,
            &AccessToken::new("t"),
            &Issuer::new(ISSUER),
        )
        .await;
        if let Ok(client) = OidcClient::builder(provider(None))
            .http(http.clone())
            .clock(clock())
            .build()
        {
            let tokens: Result<TokenSet, _> = serde_json::from_value(serde_json::json!({
                "access_token": "t", "token_type": "Bearer", "expires_in": null,
                "expires_at": null, "refresh_token": null, "id_token": null, "scope": null
            }));
            if let Ok(tokens) = tokens {
                let _ = client.user_info(&tokens, None).await;
            }
        }
    });
});
