//! The service's integration tests, one binary.
//! - `api`: the provisioning API in-process, with tokens from the real oidc-provider and forged
//!   ones, over a real SQLite database.
//! - `backchannel`: back-channel logout with forged logout tokens from a loopback issuer: the
//!   effects per issuer, the spec's answers, replays.
//! - `operations`: the service as operators run it, from a TOML configuration: several issuers,
//!   network policy, limits, `/metrics`, `/openapi.json`, database failures.
//! - `dev_idp`: the development identity provider's strictness, and the web page's sign-in
//!   through it, served by the real accept loop.
//! - `scim`: the SCIM service provider with the requests Entra ID and Okta document, a real
//!   sign-in at the development provider, and scim2-tester's compliance check.

// A panic in a test or its helpers is a test failure with a location: what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api;
mod backchannel;
mod dev_idp;
mod operations;
mod scim;
