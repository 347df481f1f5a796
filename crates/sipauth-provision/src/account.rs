//! [`Account`]: one person's SIP account, keyed by (issuer, subject). The username is decided
//! once, at first provisioning, and kept; the generation counts password rotations.

use serde::Serialize;

/// A SIP account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Account {
    /// The issuer of the identity.
    pub issuer: String,
    /// The subject at that issuer.
    pub subject: String,
    /// The SIP username (user part).
    pub username: String,
    /// The SIP domain.
    pub domain: String,
    /// The display name, kept current from the identity.
    pub display_name: String,
    /// The email, as last seen (verified or not: informational only).
    pub email: Option<String>,
    /// The value of the issuer's link claim (`sub` unless configured) at the last provision,
    /// or the SCIM `externalId` of an account the provider pushed: how a SCIM user finds it.
    pub external_id: Option<String>,
    /// False when disabled (by an operator, the policy or the provider's directory).
    pub enabled: bool,
    /// Bumped by rotation and deprovisioning: the derived password changes with it.
    pub generation: i64,
    /// Until when its SIP password works, with credential leases on (Unix seconds).
    pub lease_expires_at: Option<i64>,
    /// The call rights last written for it (sorted; `[rights]`): its groups in Kamailio's
    /// `grp` table.
    pub rights: Vec<String>,
    /// When it was created (Unix seconds).
    pub created_at: i64,
    /// When it last changed (Unix seconds).
    pub updated_at: i64,
}

impl Account {
    /// An enabled account of `subject` at `https://idp`, named `username` in
    /// `sip.example.com`, for this crate's unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(subject: &str, username: &str) -> Self {
        Self {
            issuer: "https://idp".into(),
            subject: subject.into(),
            username: username.into(),
            domain: "sip.example.com".into(),
            display_name: String::new(),
            email: None,
            external_id: None,
            enabled: true,
            generation: 0,
            lease_expires_at: None,
            rights: Vec::new(),
            created_at: 0,
            updated_at: 0,
        }
    }
}

/// One device of a person with credentials per device (`[sip] credentials = "per_device"`):
/// its own digest username and password under the person's SIP URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Device {
    /// Its id (opaque, URL-safe).
    pub id: String,
    /// Its name as the person gave it ("Alice's iPhone").
    pub name: String,
    /// Its digest username: `<username>~<tag>`.
    pub authorization_username: String,
    /// The user agent that provisioned it last, when known.
    pub user_agent: Option<String>,
    /// When it was first provisioned (Unix seconds).
    pub created_at: i64,
    /// When it was last provisioned (Unix seconds).
    pub last_provisioned_at: i64,
}

/// One line of the audit log: who, what, when, from where, outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AuditEntry {
    /// When (Unix seconds).
    pub at: i64,
    /// The issuer, when known.
    pub issuer: Option<String>,
    /// The subject, when known.
    pub subject: Option<String>,
    /// The SIP username, when known.
    pub username: Option<String>,
    /// What was done (`provision`, `deprovision`, `rotate`, `disable`, `enable`, `delete`,
    /// `policy_disable`, `policy_enable`, `scim_create`, `scim_update`, `scim_deactivate`,
    /// `scim_activate`, `scim_delete`).
    pub action: String,
    /// `ok`, or the error code.
    pub outcome: String,
    /// The client's address, when known.
    pub client_ip: Option<String>,
}
