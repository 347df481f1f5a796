//! Kamailio 5.6's `auth_db` over the `subscriber` table: every statement on it. `auth_db` reads
//! the row this service writes in the same transaction as the account: `ha1` =
//! MD5(user:realm:password), `ha1b` = MD5(user@domain:realm:password), lowercase hex (Kamailio
//! refuses uppercase), for `calculate_ha1 = 0`; the plaintext `password` column only when
//! configured.
//!
//! sipauth touches only the rows it wrote: each is recorded in `sipauth_subscriber` in the
//! transaction that inserts it. A row that is not recorded there (a desk phone, an extension, a
//! trunk) is never read as an account's, changed or deleted; its name is taken.

use md5::{Digest, Md5};
use sipauth::SipPassword;
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::account::Account;
use crate::error::ProvisionError;
use crate::store::accounts;

/// lowercase hex MD5 of `user:realm:password` (RFC 2617 HA1).
pub fn ha1(user: &str, realm: &str, password: &str) -> String {
    let digest = Md5::digest(format!("{user}:{realm}:{password}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `subscriber` row of an account for a realm and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SubscriberRow {
    password: String,
    ha1: String,
    ha1b: String,
}

impl SubscriberRow {
    pub(super) fn new(
        account: &Account,
        realm: &str,
        password: &SipPassword,
        store_plaintext: bool,
    ) -> Self {
        Self::of_user(
            &account.username,
            &account.domain,
            realm,
            password,
            store_plaintext,
        )
    }

    /// The row of digest user `user` (a device's `<username>~<tag>`) in `domain`.
    pub(super) fn of_user(
        user: &str,
        domain: &str,
        realm: &str,
        password: &SipPassword,
        store_plaintext: bool,
    ) -> Self {
        Self {
            password: if store_plaintext {
                password.secret().to_string()
            } else {
                String::new()
            },
            ha1: ha1(user, realm, password.secret()),
            ha1b: ha1(&format!("{user}@{domain}"), realm, password.secret()),
        }
    }

    fn from_columns(row: &sqlx::any::AnyRow, prefix: &str) -> Result<Option<Self>, sqlx::Error> {
        let column = |c: &str| row.try_get::<Option<String>, _>(format!("{prefix}{c}").as_str());
        Ok(
            match (column("password")?, column("ha1")?, column("ha1b")?) {
                (Some(password), Some(ha1), Some(ha1b)) => Some(Self {
                    password,
                    ha1,
                    ha1b,
                }),
                _ => None,
            },
        )
    }
}

/// The account of (issuer, subject) with its `subscriber` row, in one query.
pub(super) async fn read_with_account(
    pool: &AnyPool,
    issuer: &str,
    subject: &str,
) -> Result<Option<(Account, Option<SubscriberRow>)>, ProvisionError> {
    let columns = accounts::COLUMNS
        .split(", ")
        .map(|c| format!("a.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let row = sqlx::query(&format!(
        "SELECT {columns}, s.password AS s_password, s.ha1 AS s_ha1, s.ha1b AS s_ha1b \
         FROM sipauth_account a \
         LEFT JOIN sipauth_subscriber o ON o.username = a.username AND o.domain = a.domain \
         LEFT JOIN subscriber s ON s.username = o.username AND s.domain = o.domain \
         WHERE a.issuer = $1 AND a.subject = $2"
    ))
    .bind(issuer.to_string())
    .bind(subject.to_string())
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some((
        accounts::from_row(&row)?,
        SubscriberRow::from_columns(&row, "s_")?,
    )))
}

/// True when `subscriber` has a row for (username, domain) that sipauth did not write.
pub(crate) async fn is_foreign(
    tx: &mut Transaction<'_, Any>,
    username: &str,
    domain: &str,
) -> Result<bool, ProvisionError> {
    let row = sqlx::query(
        "SELECT 1 AS hit FROM subscriber s WHERE s.username = $1 AND s.domain = $2 \
         AND NOT EXISTS (SELECT 1 FROM sipauth_subscriber o \
         WHERE o.username = s.username AND o.domain = s.domain)",
    )
    .bind(username.to_string())
    .bind(domain.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.is_some())
}

/// Writes the account's row when it differs from what is there. A row sipauth did not write is
/// never changed: that is an error (the name is someone else's).
pub(super) async fn write(
    tx: &mut Transaction<'_, Any>,
    account: &Account,
    row: &SubscriberRow,
) -> Result<(), ProvisionError> {
    let current = sqlx::query(
        "SELECT s.password, s.ha1, s.ha1b, o.username AS owner FROM subscriber s \
         LEFT JOIN sipauth_subscriber o ON o.username = s.username AND o.domain = s.domain \
         WHERE s.username = $1 AND s.domain = $2",
    )
    .bind(account.username.clone())
    .bind(account.domain.clone())
    .fetch_optional(&mut **tx)
    .await?;
    match current {
        Some(r) if r.try_get::<Option<String>, _>("owner")?.is_none() => {
            Err(ProvisionError::Username(format!(
                "{}@{} is a SIP account sipauth did not create",
                account.username, account.domain
            )))
        }
        Some(r) => {
            if SubscriberRow::from_columns(&r, "")?.as_ref() != Some(row) {
                sqlx::query("UPDATE subscriber SET password = $1, ha1 = $2, ha1b = $3 WHERE username = $4 AND domain = $5")
                    .bind(row.password.clone())
                    .bind(row.ha1.clone())
                    .bind(row.ha1b.clone())
                    .bind(account.username.clone())
                    .bind(account.domain.clone())
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(())
        }
        None => {
            sqlx::query("INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES ($1, $2, $3, $4, $5)")
                .bind(account.username.clone())
                .bind(account.domain.clone())
                .bind(row.password.clone())
                .bind(row.ha1.clone())
                .bind(row.ha1b.clone())
                .execute(&mut **tx)
                .await?;
            sqlx::query(
                "INSERT INTO sipauth_subscriber (username, domain) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(account.username.clone())
            .bind(account.domain.clone())
            .execute(&mut **tx)
            .await?;
            Ok(())
        }
    }
}

/// Writes the row of one device of `account`: digest user `auth_username` in the account's
/// domain, its owner the account's username (what Kamailio's routing script checks). A row
/// sipauth did not write is never changed.
pub(super) async fn write_device(
    tx: &mut Transaction<'_, Any>,
    account: &Account,
    auth_username: &str,
    row: &SubscriberRow,
) -> Result<(), ProvisionError> {
    if is_foreign(tx, auth_username, &account.domain).await? {
        return Err(ProvisionError::Username(format!(
            "{auth_username}@{} is a SIP account sipauth did not create",
            account.domain
        )));
    }
    let updated = sqlx::query(
        "UPDATE subscriber SET password = $1, ha1 = $2, ha1b = $3, sipauth_owner = $4 \
         WHERE username = $5 AND domain = $6",
    )
    .bind(row.password.clone())
    .bind(row.ha1.clone())
    .bind(row.ha1b.clone())
    .bind(account.username.clone())
    .bind(auth_username.to_string())
    .bind(account.domain.clone())
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() == 0 {
        sqlx::query("INSERT INTO subscriber (username, domain, password, ha1, ha1b, sipauth_owner) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(auth_username.to_string())
            .bind(account.domain.clone())
            .bind(row.password.clone())
            .bind(row.ha1.clone())
            .bind(row.ha1b.clone())
            .bind(account.username.clone())
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT INTO sipauth_subscriber (username, domain) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(auth_username.to_string())
        .bind(account.domain.clone())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Removes the rows of the account's devices (all of them, or the one of `auth_username`).
pub(super) async fn remove_devices(
    tx: &mut Transaction<'_, Any>,
    account: &Account,
    only: Option<&str>,
) -> Result<(), ProvisionError> {
    let which = if only.is_some() {
        " AND username = $3"
    } else {
        ""
    };
    let owned =
        format!("SELECT username FROM subscriber WHERE sipauth_owner = $1 AND domain = $2{which}");
    let forget_sql =
        format!("DELETE FROM sipauth_subscriber WHERE domain = $2 AND username IN ({owned})");
    let drop_sql =
        format!("DELETE FROM subscriber WHERE sipauth_owner = $1 AND domain = $2{which}");
    let mut forget = sqlx::query(&forget_sql)
        .bind(account.username.clone())
        .bind(account.domain.clone());
    let mut drop = sqlx::query(&drop_sql)
        .bind(account.username.clone())
        .bind(account.domain.clone());
    if let Some(user) = only {
        forget = forget.bind(user.to_string());
        drop = drop.bind(user.to_string());
    }
    forget.execute(&mut **tx).await?;
    drop.execute(&mut **tx).await?;
    Ok(())
}

/// Removes the account's row, if sipauth wrote it.
pub(super) async fn remove(
    tx: &mut Transaction<'_, Any>,
    account: &Account,
) -> Result<(), ProvisionError> {
    sqlx::query(
        "DELETE FROM subscriber WHERE username = $1 AND domain = $2 AND EXISTS \
         (SELECT 1 FROM sipauth_subscriber o \
         WHERE o.username = subscriber.username AND o.domain = subscriber.domain)",
    )
    .bind(account.username.clone())
    .bind(account.domain.clone())
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM sipauth_subscriber WHERE username = $1 AND domain = $2")
        .bind(account.username.clone())
        .bind(account.domain.clone())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ha1_is_rfc2617_lowercase_hex() {
        // RFC 2617 §3.5: Mufasa:testrealm@host.com:Circle Of Life.
        assert_eq!(
            ha1("Mufasa", "testrealm@host.com", "Circle Of Life"),
            "939e7578ed9e3c518a452acee763bce9"
        );
    }

    #[test]
    fn rows_hold_both_hashes_and_plaintext_only_when_asked() {
        let account = Account::for_tests("s", "alice");
        let password = SipPassword::new("pw");
        let row = SubscriberRow::new(&account, "sip.example.com", &password, false);
        assert!(row.password.is_empty());
        assert_eq!(row.ha1, ha1("alice", "sip.example.com", "pw"));
        assert_eq!(
            row.ha1b,
            ha1("alice@sip.example.com", "sip.example.com", "pw")
        );
        let plain = SubscriberRow::new(&account, "sip.example.com", &password, true);
        assert_eq!(plain.password, "pw");
    }
}
