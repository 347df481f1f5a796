//! SIP: the fuzzer's bytes as a response head from a registrar (status line, headers), then
//! its digest challenges and the answer to the best of them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipauth_register::digest::Challenge;
use sipauth_register::message;

fuzz_target!(|data: &[u8]| {
    let _ = message::head_end(data);
    if let Ok(response) = message::parse_response(data) {
        let challenges: Vec<&str> = response.all("www-authenticate").collect();
        if let Ok(best) = Challenge::best(challenges) {
            let _ = sipauth_register::digest::answer(
                &best,
                "REGISTER",
                "sip:example.com",
                "alice",
                "pw",
                "cnonce",
                1,
            );
        }
    }
    let text = String::from_utf8_lossy(data);
    let _ = Challenge::parse(&text);
    let _ = message::printable(&text);
});
