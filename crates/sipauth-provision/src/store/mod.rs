//! Where provisioning keeps its state: the [`Database`] (SQLite or PostgreSQL, embedded
//! migrations), the account SQL ([`accounts`]: every statement on `sipauth_account`), and the
//! audit log ([`audit`]: rows written in a change's own transaction, or by group commit for
//! provisions that change nothing), what is kept of deleted accounts ([`retired`]), and the
//! provider's directory ([`directory`]: SCIM users, groups, memberships), the records the
//! service's instances share ([`records`]). Every
//! read a write transaction writes back is a locked read ([`WriteTx::lock_clause`]). A SIP backend's own tables are the backend's
//! ([`crate::backend`]); this module gives it the transaction to write them in.

pub(crate) mod accounts;
pub(crate) mod audit;
pub(crate) mod db;
pub(crate) mod devices;
pub(crate) mod directory;
pub(crate) mod records;
pub(crate) mod retired;

use sqlx::{Any, Transaction};

use crate::error::ProvisionError;
pub use db::Database;
pub use records::{Inserted, NewRecord, SharedRecords};

/// A write transaction, with SQLite's process-wide writer turn when on SQLite.
pub(crate) struct WriteTx<'a> {
    _turn: Option<tokio::sync::MutexGuard<'a, ()>>,
    pub tx: Transaction<'a, Any>,
    kind: db::Kind,
    /// Addresses of record whose registrations end once this commits.
    ended: Vec<String>,
    /// One device's registration to end once this commits: (address of record, its digest
    /// user).
    ended_devices: Vec<(String, String)>,
}

/// What ends at the SIP server once a write commits.
#[derive(Debug, Default)]
pub(crate) struct EndedRegistrations {
    /// Every registration of these addresses of record.
    pub aors: Vec<String>,
    /// The registration of one device: (address of record, its digest user).
    pub devices: Vec<(String, String)>,
}

impl WriteTx<'_> {
    /// What a read that the transaction will write back after appends: `FOR UPDATE` on
    /// PostgreSQL (under READ COMMITTED a plain read can be stale by the time this transaction
    /// writes, and a racing operator's rotate, disable or delete would be undone); nothing on
    /// SQLite, where `BEGIN IMMEDIATE` already holds the database's one write lock.
    pub(crate) fn lock_clause(&self) -> &'static str {
        match self.kind {
            db::Kind::Postgres => " FOR UPDATE",
            db::Kind::Sqlite => "",
        }
    }

    /// After the commit, what `account` has registered at the SIP server is to go (its access
    /// ended, or its password changed).
    pub(crate) fn end_registrations(&mut self, account: &crate::account::Account) {
        let aor = format!("{}@{}", account.username, account.domain);
        if !self.ended.contains(&aor) {
            self.ended.push(aor);
        }
    }

    /// After the commit, the registration of one device of `account` (digest user
    /// `auth_username`) ends too; its other devices' stay.
    pub(crate) fn end_device_registration(
        &mut self,
        account: &crate::account::Account,
        auth_username: &str,
    ) {
        self.ended_devices.push((
            format!("{}@{}", account.username, account.domain),
            auth_username.to_string(),
        ));
    }

    /// Commits: the registrations that are to end.
    pub(crate) async fn commit(self) -> Result<EndedRegistrations, ProvisionError> {
        self.tx.commit().await?;
        Ok(EndedRegistrations {
            aors: self.ended,
            devices: self.ended_devices,
        })
    }
}

impl Database {
    /// Begins a write transaction. SQLite: `BEGIN IMMEDIATE` takes the write lock up front, so
    /// other writers (this process's wait on the mutex, other processes in the busy timeout)
    /// queue instead of failing as `database is locked` when a read would upgrade to a write.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx<'_>, ProvisionError> {
        Ok(match self.kind {
            db::Kind::Sqlite => WriteTx {
                _turn: Some(self.writer.lock().await),
                tx: self.pool.begin_with("BEGIN IMMEDIATE").await?,
                kind: self.kind,
                ended: Vec::new(),
                ended_devices: Vec::new(),
            },
            db::Kind::Postgres => WriteTx {
                _turn: None,
                tx: self.pool.begin().await?,
                kind: self.kind,
                ended: Vec::new(),
                ended_devices: Vec::new(),
            },
        })
    }
}
