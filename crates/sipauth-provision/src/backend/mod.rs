//! [`Backend`]: how a SIP server learns a password. Each backend owns its SQL and its
//! credentials: [`kamailio`] writes Kamailio 5.6's `subscriber` row in the account's
//! transaction; [`ephemeral`] writes nothing and signs `auth_ephemeral` credentials with the
//! library's one HMAC function; [`kamailio_groups`] writes an account's call rights to
//! Kamailio's `grp` table (for either, since the group module reads it whatever authenticates).
//! The provisioner calls only the verbs here (the credentials a client presents, grant, a
//! device's grant, ending devices, rights, revoke) and the fast path's read, so Asterisk
//! (PJSIP realtime) and FreeSWITCH (directory over HTTP) fit as new files beside these.

mod ephemeral;
mod kamailio;
mod kamailio_groups;
mod kamailio_rpc;

use std::time::Duration;

use sipauth::sip::HmacAlgorithm;
use sipauth::SipPassword;
use sqlx::{Any, AnyPool, Transaction};

use crate::account::Account;
use crate::error::ProvisionError;
use crate::store::{accounts, WriteTx};
pub use kamailio::ha1;
pub use kamailio_rpc::KamailioRpc;

/// Where the SIP server finds the credentials.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Backend {
    /// Kamailio `auth_db` over the `subscriber` table.
    KamailioSubscriber {
        /// Also fill the plaintext `password` column (for `calculate_ha1 = 1`).
        store_plaintext: bool,
    },
    /// Kamailio `auth_ephemeral` with a shared secret.
    Ephemeral {
        /// The secret shared with Kamailio.
        secret: SipPassword,
        /// HMAC-SHA1 (Kamailio's default) or HMAC-SHA256.
        algorithm: HmacAlgorithm,
        /// How long the credentials live.
        ttl: Duration,
    },
}

/// What a client presents to the SIP server.
#[derive(Debug, Clone)]
pub(crate) struct Presented {
    /// The digest username.
    pub authorization_username: String,
    /// The password.
    pub password: SipPassword,
    /// When it stops working, if it does.
    pub expires_at: Option<i64>,
}

/// An account as the fast path reads it: with whether the SIP server already holds `password`.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    pub account: Account,
    kamailio_row: Option<kamailio::SubscriberRow>,
}

impl Backend {
    /// True when the account's password comes from the password issuer (the backend stores
    /// it); false when the backend makes its own (auth_ephemeral).
    pub(crate) fn stores_passwords(&self) -> bool {
        matches!(self, Backend::KamailioSubscriber { .. })
    }

    /// The credentials `account` presents, given the issued password (`None` when the backend
    /// makes its own).
    pub(crate) fn presented(
        &self,
        account: &Account,
        issued: Option<SipPassword>,
        now: i64,
    ) -> Result<Presented, ProvisionError> {
        match (self, issued) {
            (
                Backend::Ephemeral {
                    secret,
                    algorithm,
                    ttl,
                },
                _,
            ) => ephemeral::presented(secret, *algorithm, *ttl, &account.username, now),
            (Backend::KamailioSubscriber { .. }, Some(password)) => Ok(Presented {
                authorization_username: account.username.clone(),
                password,
                expires_at: None,
            }),
            (Backend::KamailioSubscriber { .. }, None) => Err(ProvisionError::Config(
                "the subscriber backend needs an issued password".into(),
            )),
        }
    }

    /// Makes the SIP server accept `password` for `account`, in the account's transaction.
    pub(crate) async fn grant(
        &self,
        tx: &mut Transaction<'_, Any>,
        account: &Account,
        realm: &str,
        password: &SipPassword,
    ) -> Result<(), ProvisionError> {
        match self {
            Backend::KamailioSubscriber { store_plaintext } => {
                let row = kamailio::SubscriberRow::new(account, realm, password, *store_plaintext);
                kamailio::write(tx, account, &row).await
            }
            Backend::Ephemeral { .. } => Ok(()),
        }
    }

    /// Makes the SIP server accept `password` for one device of `account` (digest user
    /// `auth_username`), in the account's transaction; the person's own shared row goes (a
    /// deployment that moved to credentials per device).
    pub(crate) async fn grant_device(
        &self,
        tx: &mut Transaction<'_, Any>,
        account: &Account,
        auth_username: &str,
        realm: &str,
        password: &SipPassword,
    ) -> Result<(), ProvisionError> {
        match self {
            Backend::KamailioSubscriber { store_plaintext } => {
                kamailio::remove(tx, account).await?;
                let row = kamailio::SubscriberRow::of_user(
                    auth_username,
                    &account.domain,
                    realm,
                    password,
                    *store_plaintext,
                );
                kamailio::write_device(tx, account, auth_username, &row).await
            }
            Backend::Ephemeral { .. } => Err(ProvisionError::Config(
                "credentials per device need the kamailio backend (auth_ephemeral has one secret for everyone)".into(),
            )),
        }
    }

    /// Makes the SIP server refuse the account's devices (or the one of `only`), in the
    /// account's transaction: their passwords changed, or they were revoked.
    pub(crate) async fn end_devices(
        &self,
        tx: &mut Transaction<'_, Any>,
        account: &Account,
        only: Option<&str>,
    ) -> Result<(), ProvisionError> {
        match self {
            Backend::KamailioSubscriber { .. } => kamailio::remove_devices(tx, account, only).await,
            Backend::Ephemeral { .. } => Ok(()),
        }
    }

    /// Gives `account` exactly the call rights `rights` among `configured` (and those it was
    /// given before), in the account's transaction, and records them on the account.
    pub(crate) async fn set_rights<'a>(
        &self,
        tx: &mut Transaction<'_, Any>,
        account: &mut Account,
        configured: impl Iterator<Item = &'a str>,
        rights: Vec<String>,
        now: i64,
    ) -> Result<(), ProvisionError> {
        if account.rights == rights {
            return Ok(());
        }
        let mut managed: Vec<&str> = configured.collect();
        managed.extend(account.rights.iter().map(String::as_str));
        kamailio_groups::write(tx, account, &managed, &rights).await?;
        accounts::update(&mut **tx, account, accounts::Change::Rights(&rights), now).await?;
        account.rights = rights;
        Ok(())
    }

    /// Makes the SIP server refuse `account` at once, in the account's transaction, its call
    /// rights gone with it; what is registered goes after the commit
    /// ([`WriteTx::end_registrations`]).
    pub(crate) async fn revoke(
        &self,
        w: &mut WriteTx<'_>,
        account: &Account,
    ) -> Result<(), ProvisionError> {
        w.end_registrations(account);
        if !account.rights.is_empty() {
            let managed: Vec<&str> = account.rights.iter().map(String::as_str).collect();
            kamailio_groups::write(&mut w.tx, account, &managed, &[]).await?;
            // The caller's own change of the account stamps its time; this keeps the one read.
            let stamp = account.updated_at;
            accounts::update(&mut *w.tx, account, accounts::Change::Rights(&[]), stamp).await?;
        }
        match self {
            Backend::KamailioSubscriber { .. } => {
                kamailio::remove(&mut w.tx, account).await?;
                kamailio::remove_devices(&mut w.tx, account, None).await
            }
            // Nothing was written; ephemeral credentials end at their expiry.
            Backend::Ephemeral { .. } => Ok(()),
        }
    }

    /// True when the SIP server already has (username, domain) for someone sipauth did not
    /// make: a `subscriber` row sipauth did not write. Asked for both backends: with
    /// auth_ephemeral the table may still hold the operator's hand-made accounts, whose
    /// address-of-record an ephemeral user of the same name would share.
    pub(crate) async fn name_taken(
        &self,
        tx: &mut Transaction<'_, Any>,
        username: &str,
        domain: &str,
    ) -> Result<bool, ProvisionError> {
        kamailio::is_foreign(tx, username, domain).await
    }

    /// The fast path's one read: the account of (issuer, subject) and what the SIP server
    /// holds for it.
    pub(crate) async fn current(
        &self,
        pool: &AnyPool,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<Current>, ProvisionError> {
        match self {
            Backend::KamailioSubscriber { .. } => {
                Ok(kamailio::read_with_account(pool, issuer, subject)
                    .await?
                    .map(|(account, row)| Current {
                        account,
                        kamailio_row: row,
                    }))
            }
            Backend::Ephemeral { .. } => Ok(crate::store::accounts::find(pool, issuer, subject)
                .await?
                .map(|account| Current {
                    account,
                    kamailio_row: None,
                })),
        }
    }
}

impl Current {
    /// An account with no SIP server row (tests of the cache).
    #[cfg(test)]
    pub(crate) fn for_tests(account: Account) -> Self {
        Self {
            account,
            kamailio_row: None,
        }
    }

    /// True when the SIP server already accepts `password` for this account.
    pub(crate) fn holds(&self, backend: &Backend, realm: &str, password: &SipPassword) -> bool {
        match backend {
            Backend::KamailioSubscriber { store_plaintext } => {
                let want =
                    kamailio::SubscriberRow::new(&self.account, realm, password, *store_plaintext);
                self.kamailio_row.as_ref() == Some(&want)
            }
            Backend::Ephemeral { .. } => true,
        }
    }
}
