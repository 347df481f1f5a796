//! Test helpers for sipauth (not published): plays the browser against the real oidc-provider
//! ([`browser`]), forges ID tokens with keys of our own ([`keys`]), and runs loopback HTTP stubs
//! for what cannot run here, such as Google's, Microsoft's and GitHub's own servers ([`stub`]).
//! It does not depend on sipauth, so the library's tests can use it without a cycle.

#![allow(missing_docs)]

pub mod browser;
pub mod keys;
pub mod stub;

/// The issuer of the real oidc-provider started by `testenv/start.sh`.
///
/// # Panics
/// When `SIPAUTH_TEST_ISSUER` is not set: the test needs the real provider, and running without
/// it must fail loudly, never pass silently. Run `testenv/run-tests.sh`, or `testenv/start.sh`
/// then `. testenv/run/env`.
#[allow(clippy::panic)]
pub fn oidc_issuer() -> String {
    match std::env::var("SIPAUTH_TEST_ISSUER") {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "SIPAUTH_TEST_ISSUER is not set: start the real OpenID provider with testenv/start.sh \
             and `. testenv/run/env`, or run everything with testenv/run-tests.sh"
        ),
    }
}

/// Client ids and secrets registered in testenv/oidc-provider/server.mjs.
pub mod clients {
    pub const PUBLIC: &str = "sipauth-public";
    pub const SHORT_LIVED: &str = "sipauth-short-lived";
    pub const CONFIDENTIAL_BASIC: &str = "sipauth-confidential";
    pub const CONFIDENTIAL_BASIC_SECRET: &str = "sipauth-testenv-basic-secret";
    pub const CONFIDENTIAL_POST: &str = "sipauth-confidential-post";
    pub const CONFIDENTIAL_POST_SECRET: &str = "sipauth-testenv-post-secret";
}
