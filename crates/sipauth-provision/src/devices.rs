//! A person's devices, with credentials per device: listing them and revoking one, by the
//! person (their identity) or an operator (the SIP username). Revoking a device removes its
//! `subscriber` row in the same transaction as the device and its audit row
//! (`device_revoke`): the SIP server refuses its password at the next request; the person's
//! other devices keep working.

use crate::account::{Account, Device};
use crate::error::ProvisionError;
use crate::provisioner::Provisioner;
use crate::store::accounts;
use crate::store::audit::{self, AuditRow};
use crate::store::devices;

impl Provisioner {
    /// The devices of (issuer, subject), oldest first; none without an account.
    pub async fn devices(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Vec<Device>, ProvisionError> {
        match accounts::find(&self.db.pool, issuer, subject).await? {
            Some(account) => devices::list(&self.db.pool, &account).await,
            None => Ok(Vec::new()),
        }
    }

    /// The devices of the account with this SIP username (`user` or `user@domain`).
    pub async fn devices_of_user(&self, username: &str) -> Result<Vec<Device>, ProvisionError> {
        let account = accounts::by_username(&self.db.pool, username).await?;
        devices::list(&self.db.pool, &account).await
    }

    /// Revokes the device `id` of (issuer, subject): false when they have no such device.
    pub async fn revoke_device(
        &self,
        issuer: &str,
        subject: &str,
        id: &str,
        client_ip: Option<&str>,
    ) -> Result<bool, ProvisionError> {
        let mut w = self.db.begin_write().await?;
        let Some(account) = accounts::find_locked(&mut w, issuer, subject).await? else {
            return Ok(false);
        };
        self.revoke_in(w, account, id, client_ip).await
    }

    /// Revokes the device `id` of the account with this SIP username (an operator's).
    pub async fn revoke_device_of_user(
        &self,
        username: &str,
        id: &str,
    ) -> Result<bool, ProvisionError> {
        let mut w = self.db.begin_write().await?;
        let account = accounts::by_username_locked(&mut w, username).await?;
        self.revoke_in(w, account, id, None).await
    }

    async fn revoke_in(
        &self,
        mut w: crate::store::WriteTx<'_>,
        account: Account,
        id: &str,
        client_ip: Option<&str>,
    ) -> Result<bool, ProvisionError> {
        let now = self.clock.now_unix();
        let Some(device) = devices::list(&mut *w.tx, &account)
            .await?
            .into_iter()
            .find(|d| d.id == id)
        else {
            return Ok(false);
        };
        devices::delete(&mut *w.tx, &account, id).await?;
        self.backend
            .end_devices(&mut w.tx, &account, Some(&device.authorization_username))
            .await?;
        w.end_device_registration(&account, &device.authorization_username);
        let row = AuditRow {
            at: now,
            issuer: Some(account.issuer.clone()),
            subject: Some(account.subject.clone()),
            username: Some(account.username.clone()),
            action: "device_revoke",
            outcome: "ok".into(),
            client_ip: client_ip.map(str::to_string),
        };
        audit::insert(&mut *w.tx, &row).await?;
        self.finish(w).await?;
        self.count("device_revoke");
        Ok(true)
    }
}
