//! The library's integration tests, one binary.
//! - `real_provider`: full sign-ins against the real oidc-provider (testenv/start.sh).
//! - `device`: the device grant's polling rules against a stub.
//! - `hostile`: oversized bodies, sparse metadata (RFC 8414), revocation outcomes, against stubs.
//! - `id_token`: forged ID tokens and key rotation against a loopback stub provider.
//! - `credentials`: identity to SIP credentials, every strategy, JsSIP accepting the config.
//! - `session`: the session lifecycle against the real provider, stores, processes.
//! - `quirks`: Google, Entra ID, GitHub and client authentication, each answered by a loopback
//!   stub exactly as that provider documents.

// Native only: the browser's tests are tests/web.rs.
#![cfg(not(target_arch = "wasm32"))]
// A panic in a test or its helpers is a test failure with a location: what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod credentials;
mod device;
mod hostile;
mod id_token;
mod quirks;
mod real_provider;
mod session;
