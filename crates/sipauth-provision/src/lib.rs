//! # sipauth-provision: SIP accounts for verified identities
//!
//! What the provisioning service does between "this token is valid" and "here are your SIP
//! credentials", with no HTTP in sight: decide whether this person may have SIP access
//! ([`Policy`]), find or create their account, keyed by (issuer, subject) and never by email
//! ([`Account`]), issue the password ([`ServerSecret`]: derived, the same on every device until
//! rotated), and make sure the SIP server accepts it ([`Backend`]: Kamailio's `subscriber` table,
//! written in the same transaction, or Kamailio `auth_ephemeral`, where nothing is written). The
//! database ([`Database`]) is SQLite by default and PostgreSQL for several instances, with the same
//! embedded migrations; every provision is one write transaction with an audit row.
//!
//! Token verification is the client library's ([`sipauth::TokenVerifier`]); the HTTP API is the
//! server crate's.

mod account;
mod audit;
mod backend;
mod db;
mod error;
mod password;
mod policy;
mod provisioner;

pub use account::{Account, AuditEntry};
pub use backend::{ha1, Backend};
pub use db::Database;
pub use error::ProvisionError;
pub use password::ServerSecret;
pub use policy::Policy;
pub use provisioner::{Provisioned, Provisioner, SipSettings, DEFAULT_USERNAME_CLAIMS};
