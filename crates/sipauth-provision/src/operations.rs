//! Operators' changes to accounts, by SIP username (`sipauth admin`): rotate, disable, enable,
//! delete, each in one write transaction with its audit row and the account's row locked (a
//! racing provision waits, then sees the change), the SIP backend granting or
//! revoking in the same transaction; and the reads (`list`, `show`, the audit log).

use crate::account::{Account, AuditEntry};
use crate::error::ProvisionError;
use crate::provisioner::Provisioner;
use crate::store::accounts::{self, Change, DisabledBy};
use crate::store::audit::{self, AuditRow};
use crate::store::retired;

/// An operator's change to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Rotate,
    Disable,
    Enable,
    Delete,
}

impl Operation {
    /// The audit log's name for it.
    fn name(self) -> &'static str {
        match self {
            Operation::Rotate => "rotate",
            Operation::Disable => "disable",
            Operation::Enable => "enable",
            Operation::Delete => "delete",
        }
    }
}

/// What the provider's back-channel logout of a person does to their SIP access (per issuer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogoutEffect {
    /// Their web sessions end; SIP access stays.
    #[default]
    Sessions,
    /// Their password rotates: what is registered stops working; the next provision gets the
    /// new one.
    Rotate,
    /// SIP access ends until a token issued after the logout provisions again.
    Disable,
}

impl Provisioner {
    /// The provider logged (issuer, subject) out: `effect` applied to their account in one
    /// transaction with its audit row (`backchannel_logout`, `_rotate`, `_disable`). The
    /// account as it is now; `None` when the person has none.
    pub async fn logged_out(
        &self,
        issuer: &str,
        subject: &str,
        effect: LogoutEffect,
    ) -> Result<Option<Account>, ProvisionError> {
        let now = self.clock.now_unix();
        let mut w = self.db.begin_write().await?;
        let Some(mut account) = accounts::find_locked(&mut w, issuer, subject).await? else {
            return Ok(None);
        };
        let action = match effect {
            LogoutEffect::Sessions => "backchannel_logout",
            LogoutEffect::Rotate => {
                accounts::update(&mut *w.tx, &account, Change::NextGeneration, now).await?;
                w.end_registrations(&account);
                account.generation += 1;
                if account.enabled {
                    let password = self.passwords.derived(&account);
                    self.grant_current(
                        &mut w.tx,
                        &account,
                        &self.realm_of(&account.domain),
                        &password,
                    )
                    .await?;
                }
                "backchannel_rotate"
            }
            LogoutEffect::Disable => {
                if account.enabled {
                    accounts::update(
                        &mut *w.tx,
                        &account,
                        Change::DisabledBy(DisabledBy::Logout(now)),
                        now,
                    )
                    .await?;
                    self.backend.revoke(&mut w, &account).await?;
                    account.enabled = false;
                }
                "backchannel_disable"
            }
        };
        let row = AuditRow {
            at: now,
            issuer: Some(account.issuer.clone()),
            subject: Some(account.subject.clone()),
            username: Some(account.username.clone()),
            action,
            outcome: "ok".into(),
            client_ip: None,
        };
        audit::insert(&mut *w.tx, &row).await?;
        self.finish(w).await?;
        self.count(action);
        Ok(Some(account))
    }

    /// An operator's change to one account, by SIP username, audited.
    async fn operate(&self, username: &str, op: Operation) -> Result<Account, ProvisionError> {
        let now = self.clock.now_unix();
        let mut w = self.db.begin_write().await?;
        let account = accounts::by_username_locked(&mut w, username).await?;
        let realm = self.realm_of(&account.domain);
        let realm = realm.as_str();
        match op {
            Operation::Rotate => {
                accounts::update(&mut *w.tx, &account, Change::NextGeneration, now).await?;
                // The old password is dead: what it registered goes too.
                w.end_registrations(&account);
                if account.enabled {
                    let mut next = account.clone();
                    next.generation += 1;
                    let password = self.passwords.derived(&next);
                    self.grant_current(&mut w.tx, &next, realm, &password)
                        .await?;
                }
            }
            Operation::Disable => {
                accounts::update(&mut *w.tx, &account, Change::Enabled(false), now).await?;
                self.backend.revoke(&mut w, &account).await?;
            }
            Operation::Enable => {
                accounts::update(&mut *w.tx, &account, Change::Enabled(true), now).await?;
                let password = self.passwords.derived(&account);
                self.grant_current(&mut w.tx, &account, realm, &password)
                    .await?;
            }
            Operation::Delete => {
                self.backend.revoke(&mut w, &account).await?;
                retired::record(&mut *w.tx, &account, now, retired::RetiredBy::Operator).await?;
                accounts::delete(&mut *w.tx, &account).await?;
            }
        }
        let row = AuditRow {
            at: now,
            issuer: Some(account.issuer.clone()),
            subject: Some(account.subject.clone()),
            username: Some(username.to_string()),
            action: op.name(),
            outcome: "ok".into(),
            client_ip: None,
        };
        audit::insert(&mut *w.tx, &row).await?;
        // The account as it is now, read in the same transaction (gone after a delete).
        let after = accounts::by_username(&mut *w.tx, username)
            .await
            .unwrap_or(account);
        self.finish(w).await?;
        Ok(after)
    }

    /// A new password for `username`: the old one stops working at the SIP server at once.
    pub async fn rotate(&self, username: &str) -> Result<Account, ProvisionError> {
        self.operate(username, Operation::Rotate).await
    }

    /// Refuses `username` SIP access (and removes it from the SIP server) until enabled.
    pub async fn disable(&self, username: &str) -> Result<Account, ProvisionError> {
        self.operate(username, Operation::Disable).await
    }

    /// Gives `username` SIP access again.
    pub async fn enable(&self, username: &str) -> Result<Account, ProvisionError> {
        self.operate(username, Operation::Enable).await
    }

    /// Deletes `username` and its SIP server entry.
    pub async fn delete(&self, username: &str) -> Result<(), ProvisionError> {
        self.operate(username, Operation::Delete).await.map(|_| ())
    }

    /// Every account, by username.
    pub async fn list(&self) -> Result<Vec<Account>, ProvisionError> {
        accounts::list(&self.db.pool).await
    }

    /// One account by SIP username.
    pub async fn show(&self, username: &str) -> Result<Account, ProvisionError> {
        accounts::by_username(&self.db.pool, username).await
    }

    /// Deletes audit entries older than `retention` (by the provisioner's clock); how many.
    pub async fn sweep_audit(&self, retention: std::time::Duration) -> Result<u64, ProvisionError> {
        let age = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
        let before = self.clock.now_unix().saturating_sub(age);
        audit::sweep(&self.db.pool, before).await
    }

    /// Records what the service did about an account beyond this crate (telling the SIP
    /// server's nodes, say): an audit row by group commit.
    pub async fn note(
        &self,
        action: &'static str,
        username: Option<&str>,
        outcome: &str,
    ) -> Result<(), ProvisionError> {
        let row = AuditRow {
            at: self.clock.now_unix(),
            issuer: None,
            subject: None,
            username: username.map(str::to_string),
            action,
            outcome: outcome.to_string(),
            client_ip: None,
        };
        self.audit_writer().append(row).await
    }

    /// Audit entries since `since` (Unix seconds), oldest first.
    pub async fn audit_log(&self, since: i64) -> Result<Vec<AuditEntry>, ProvisionError> {
        audit::since(&self.db.pool, since).await
    }
}
