//! The command's integration tests, one binary; each module runs the real `sipauth` binary
//! against real peers.
//! - `call_rights`: the provider's groups as call rights Kamailio enforces; toll-fraud limits,
//!   brute-force bans and flood drops at the SIP edge (SIPp, the tested kamailio.cfg).
//! - `cli`: sign-in, device flow, status/token/credentials/logout against oidc-provider.
//! - `devices`: credentials per device at Kamailio: two devices, the cap, one revoked alone.
//! - `dev`: `sipauth serve --dev`, its provider and web page (openid-client, Chromium).
//! - `hostile`: short-lived and dead tokens, slow and hostile servers, odd flags, Ctrl-C.
//! - `kamailio`: credentials registering at a real Kamailio 5.6 (JsSIP, register-check, SIPp).
//! - `native`: baresip and linphone register with what `sipauth credentials` prints.
//! - `lifecycle`: the provider governs the account: back-channel logout from oidc-provider.
//! - `secrets`: no secret in any log, answer, table or file on the whole path at trace.
//! - `serve`: the provisioning service end to end with the `api` strategy.
//! - `web_apps`: a web app on the service in Chromium: CORS from another origin, `--static-dir`.
//! - `common`: the environment, the binary's runs, the service's lifecycle.

// A panic in a test or its helpers is a test failure with a location: what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod call_rights;
mod cli;
mod common;
mod dev;
mod devices;
mod hostile;
mod kamailio;
mod lifecycle;
mod native;
mod scale;
mod secrets;
mod serve;
mod web_apps;
