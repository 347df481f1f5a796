//! Test helpers for sipauth (not published): plays the browser against the real oidc-provider
//! ([`browser`]), forges ID tokens with keys of our own ([`keys`]), and runs loopback HTTP stubs
//! for what cannot run here, such as Google's, Microsoft's and GitHub's own servers ([`stub`]),
//! signs people in at the real provider for their tokens ([`signin`]), and plays an issuer of
//! our own that mints ID and logout tokens on cue ([`issuer`]), and runs a test's own
//! PostgreSQL cluster ([`postgres`]) and HAProxy in front of service instances ([`haproxy`]).
//! It does not depend on sipauth, so the library's tests can use it without a cycle.

#![allow(missing_docs)]

pub mod browser;
pub mod certs;
pub mod haproxy;
pub mod issuer;
pub mod kamailio;
pub mod keys;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod signin;
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
    /// A public client whose access tokens are RFC 9068 JWTs for [`PROVISION_RESOURCE`].
    pub const JWT_ACCESS_TOKENS: &str = "sipauth-jwt-at";
    /// The provisioning API's resource indicator (the JWT access tokens' audience).
    pub const PROVISION_RESOURCE: &str = "urn:sipauth:provision";
    pub const CONFIDENTIAL_BASIC: &str = "sipauth-confidential";
    pub const CONFIDENTIAL_BASIC_SECRET: &str = "sipauth-testenv-basic-secret";
    pub const CONFIDENTIAL_POST: &str = "sipauth-confidential-post";
    pub const CONFIDENTIAL_POST_SECRET: &str = "sipauth-testenv-post-secret";
}

/// The repository's `testenv/` folder.
pub fn testenv_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testenv")
}

/// Hands a JsSIP UA configuration to JsSIP's own `UA` constructor (in Node, via
/// testenv/jssip/check-config.mjs). `Ok` with JsSIP's view of it when accepted, `Err` with
/// JsSIP's error otherwise.
pub fn jssip_accepts(config: &serde_json::Value) -> Result<serde_json::Value, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let script = testenv_dir().join("jssip/check-config.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run node {}: {e}", script.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(config.to_string().as_bytes())
            .map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let answer: serde_json::Value = serde_json::from_str(text.trim()).map_err(|_| {
        format!(
            "no answer from JsSIP: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    if out.status.success() && answer["ok"] == true {
        Ok(answer)
    } else {
        Err(answer["error"].as_str().unwrap_or("rejected").to_string())
    }
}

/// Asks the real oidc-provider whether a token is active (RFC 7662), as the confidential client
/// (which may introspect any token).
pub async fn introspect_active(issuer: &str, token: &str) -> Result<bool, String> {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/token/introspection",
            issuer.trim_end_matches('/')
        ))
        .basic_auth(
            clients::CONFIDENTIAL_BASIC,
            Some(clients::CONFIDENTIAL_BASIC_SECRET),
        )
        .form(&[("token", token)])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    body.get("active")
        .and_then(serde_json::Value::as_bool)
        .ok_or_else(|| format!("no active in {body}"))
}
