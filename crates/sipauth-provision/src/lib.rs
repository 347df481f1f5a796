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
//! Token verification is the client library's ([`sipauth::TokenVerifier`]); the naming rule
//! (claims in order, the SIP alphabet, the collision suffix, the display name) is the library's
//! too ([`sipauth::sip::username_from_claims`]), so the command and the service name a person
//! the same. The HTTP API is the server crate's.
//!
//! Rooms: `provisioner.rs` orchestrates; `operations.rs` holds operators' changes;
//! `directory.rs` the provider's directory (SCIM users and groups) and its effects; `store/` the
//! database, the account SQL and the audit log; `backend/` each SIP server's SQL and
//! credentials; `password.rs` the password issuer; `policy.rs` the policy; `tenancy.rs` the SIP domain
//! and servers per person (templates over verified claims, bounded by an allowlist).

mod account;
mod backend;
mod cache;
mod devices;
mod directory;
mod error;
mod operations;
mod password;
mod policy;
mod provisioner;
mod rights;
mod store;
mod tenancy;

pub use account::{Account, AuditEntry, Device};
pub use backend::{ha1, Backend, KamailioRpc};
pub use directory::{
    DirectoryEntry, DirectoryWrite, Ended, EntryKind, GroupWrite, Related, UserWrite,
};
pub use error::ProvisionError;
pub use operations::LogoutEffect;
pub use password::ServerSecret;
pub use policy::{OnPolicyFailure, Policy};
pub use provisioner::{
    DeviceLimit, DeviceRequest, Provisioned, Provisioner, SipSettings, UNNAMED_DEVICE,
};
pub use rights::{Right, Rights};
pub use store::{Database, Inserted, NewRecord, SharedRecords};
pub use tenancy::Tenancy;
