//! Every statement on `sipauth_account`: find by (issuer, subject) or username, create when the
//! username is free, keep the profile current, move the generation on, enable or disable,
//! delete, list. Callers pass the executor (a write transaction, or the pool for reads), so the
//! account and the SIP backend's rows change together.

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::account::Account;
use crate::error::ProvisionError;
use crate::store::WriteTx;

/// The columns of an account, in [`from_row`]'s order.
pub(crate) const COLUMNS: &str = "issuer, subject, username, domain, display_name, email, external_id, enabled, generation, lease_expires_at, rights, created_at, updated_at";

/// An account from a row holding [`COLUMNS`].
pub(crate) fn from_row(row: &AnyRow) -> Result<Account, sqlx::Error> {
    Ok(Account {
        issuer: row.try_get("issuer")?,
        subject: row.try_get("subject")?,
        username: row.try_get("username")?,
        domain: row.try_get("domain")?,
        display_name: row.try_get("display_name")?,
        email: row.try_get("email")?,
        external_id: row.try_get("external_id")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        generation: row.try_get("generation")?,
        lease_expires_at: row.try_get("lease_expires_at")?,
        rights: row
            .try_get::<Option<String>, _>("rights")?
            .map(|r| {
                r.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The account of (issuer, subject).
pub(crate) async fn find<'e>(
    executor: impl Executor<'e, Database = Any>,
    issuer: &str,
    subject: &str,
) -> Result<Option<Account>, ProvisionError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sipauth_account WHERE issuer = $1 AND subject = $2"
    ))
    .bind(issuer.to_string())
    .bind(subject.to_string())
    .fetch_optional(executor)
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// The account of (issuer, subject), locked for the rest of `w`'s transaction.
pub(crate) async fn find_locked(
    w: &mut WriteTx<'_>,
    issuer: &str,
    subject: &str,
) -> Result<Option<Account>, ProvisionError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sipauth_account WHERE issuer = $1 AND subject = $2{}",
        w.lock_clause()
    ))
    .bind(issuer.to_string())
    .bind(subject.to_string())
    .fetch_optional(&mut *w.tx)
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// `name` as an operator writes it: `user`, or `user@domain` when accounts in several
/// domains share the user part (a SIP username has no `@`).
fn split_name(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once('@') {
        Some((user, domain)) => (user, Some(domain)),
        None => (name, None),
    }
}

/// The lookup by name: the user part, and the domain when given.
fn by_name_sql(domain: Option<&str>, lock: &str) -> String {
    let domain = if domain.is_some() {
        " AND domain = $2"
    } else {
        ""
    };
    format!("SELECT {COLUMNS} FROM sipauth_account WHERE username = $1{domain} LIMIT 2{lock}")
}

/// The one account `rows` hold for `name`: `NotFound` for none, `Conflict` for several (the
/// same user part in several tenants' domains).
fn one(rows: Vec<sqlx::any::AnyRow>, name: &str) -> Result<Account, ProvisionError> {
    match rows.as_slice() {
        [] => Err(ProvisionError::NotFound(name.to_string())),
        [row] => Ok(from_row(row)?),
        _ => Err(ProvisionError::Conflict(format!(
            "several accounts are named {name}, in different SIP domains: give {name}@DOMAIN"
        ))),
    }
}

/// The account named `name` (`user` or `user@domain`), locked for the transaction, or
/// `NotFound`.
pub(crate) async fn by_username_locked(
    w: &mut WriteTx<'_>,
    name: &str,
) -> Result<Account, ProvisionError> {
    let (user, domain) = split_name(name);
    let sql = by_name_sql(domain, w.lock_clause());
    let mut query = sqlx::query(&sql).bind(user.to_string());
    if let Some(domain) = domain {
        query = query.bind(domain.to_string());
    }
    let rows = query.fetch_all(&mut *w.tx).await?;
    one(rows, name)
}

/// The account named `name` (`user` or `user@domain`), or `NotFound`.
pub(crate) async fn by_username<'e>(
    executor: impl Executor<'e, Database = Any>,
    name: &str,
) -> Result<Account, ProvisionError> {
    let (user, domain) = split_name(name);
    let sql = by_name_sql(domain, "");
    let mut query = sqlx::query(&sql).bind(user.to_string());
    if let Some(domain) = domain {
        query = query.bind(domain.to_string());
    }
    let rows = query.fetch_all(executor).await?;
    one(rows, name)
}

/// A new account, unless the username (or this identity) is already taken; the caller re-reads
/// to learn which.
pub(crate) struct NewAccount<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub username: &'a str,
    pub domain: &'a str,
    pub display_name: &'a str,
    pub email: Option<&'a str>,
    pub external_id: Option<&'a str>,
}

/// Inserts `new` (at `generation`) when neither its identity nor its username has an account.
pub(crate) async fn insert_if_free<'e>(
    executor: impl Executor<'e, Database = Any>,
    new: &NewAccount<'_>,
    generation: i64,
    now: i64,
) -> Result<(), ProvisionError> {
    sqlx::query(
        "INSERT INTO sipauth_account (issuer, subject, username, domain, display_name, email, external_id, enabled, generation, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $9, 1, $8, $7, $7) ON CONFLICT DO NOTHING",
    )
    .bind(new.issuer.to_string())
    .bind(new.subject.to_string())
    .bind(new.username.to_string())
    .bind(new.domain.to_string())
    .bind(new.display_name.to_string())
    .bind(new.email.map(str::to_string))
    .bind(now)
    .bind(generation)
    .bind(new.external_id.map(str::to_string))
    .execute(executor)
    .await?;
    Ok(())
}

/// A change to an account's row.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Change<'a> {
    /// New display name and email.
    Profile {
        display_name: &'a str,
        email: Option<&'a str>,
        external_id: Option<&'a str>,
    },
    /// The generation moves on: the derived password changes with it.
    NextGeneration,
    /// Enabled or disabled, by an operator.
    Enabled(bool),
    /// Disabled by the policy or the provider's directory (undone only by the same source).
    DisabledBy(DisabledBy),
    /// The credential lease ends then (or there is none).
    Lease(Option<i64>),
    /// The call rights written for it now (sorted).
    Rights(&'a [String]),
}

/// Who disabled an account, when not an operator (`disabled_by`; NULL for an operator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DisabledBy {
    /// The identity stopped passing the policy at a provision.
    Policy,
    /// The provider's directory (SCIM `active: false`).
    Scim,
    /// The provider's back-channel logout, at this time (Unix seconds): a token issued after
    /// it restores access.
    Logout(i64),
}

impl DisabledBy {
    fn text(self) -> String {
        match self {
            DisabledBy::Policy => "policy".into(),
            DisabledBy::Scim => "scim".into(),
            DisabledBy::Logout(at) => format!("logout:{at}"),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "policy" => Some(DisabledBy::Policy),
            "scim" => Some(DisabledBy::Scim),
            other => other
                .strip_prefix("logout:")
                .and_then(|at| at.parse().ok())
                .map(DisabledBy::Logout),
        }
    }
}

/// Applies `change` to the account's row (and its `updated_at`).
pub(crate) async fn update<'e>(
    executor: impl Executor<'e, Database = Any>,
    account: &Account,
    change: Change<'_>,
    now: i64,
) -> Result<(), ProvisionError> {
    const KEY: &str = "updated_at = $1 WHERE issuer = $2 AND subject = $3";
    let sql = match change {
        Change::Profile { .. } => {
            format!(
                "UPDATE sipauth_account SET display_name = $4, email = $5, external_id = $6, {KEY}"
            )
        }
        Change::NextGeneration => {
            format!("UPDATE sipauth_account SET generation = generation + 1, {KEY}")
        }
        Change::Enabled(_) => {
            format!("UPDATE sipauth_account SET enabled = $4, disabled_by = NULL, {KEY}")
        }
        Change::DisabledBy(_) => {
            format!("UPDATE sipauth_account SET enabled = 0, disabled_by = $4, {KEY}")
        }
        Change::Lease(_) => format!("UPDATE sipauth_account SET lease_expires_at = $4, {KEY}"),
        Change::Rights(_) => format!("UPDATE sipauth_account SET rights = $4, {KEY}"),
    };
    let query = sqlx::query(&sql)
        .bind(now)
        .bind(account.issuer.clone())
        .bind(account.subject.clone());
    let query = match change {
        Change::Profile {
            display_name,
            email,
            external_id,
        } => query
            .bind(display_name.to_string())
            .bind(email.map(str::to_string))
            .bind(external_id.map(str::to_string)),
        Change::NextGeneration => query,
        Change::DisabledBy(by) => query.bind(by.text()),
        Change::Lease(until) => query.bind(until),
        Change::Enabled(on) => query.bind(i64::from(on)),
        Change::Rights(rights) => query.bind((!rights.is_empty()).then(|| rights.join(","))),
    };
    query.execute(executor).await?;
    Ok(())
}

/// Who disabled the account, unless an operator did (or it is enabled).
pub(crate) async fn disabled_by<'e>(
    executor: impl Executor<'e, Database = Any>,
    account: &Account,
) -> Result<Option<DisabledBy>, ProvisionError> {
    let row =
        sqlx::query("SELECT disabled_by FROM sipauth_account WHERE issuer = $1 AND subject = $2")
            .bind(account.issuer.clone())
            .bind(account.subject.clone())
            .fetch_optional(executor)
            .await?;
    Ok(match row {
        Some(r) => r
            .try_get::<Option<String>, _>("disabled_by")?
            .as_deref()
            .and_then(DisabledBy::parse),
        None => None,
    })
}

/// Deletes the account.
pub(crate) async fn delete<'e>(
    executor: impl Executor<'e, Database = Any>,
    account: &Account,
) -> Result<(), ProvisionError> {
    sqlx::query("DELETE FROM sipauth_account WHERE issuer = $1 AND subject = $2")
        .bind(account.issuer.clone())
        .bind(account.subject.clone())
        .execute(executor)
        .await?;
    Ok(())
}

/// Every account, by username.
pub(crate) async fn list<'e>(
    executor: impl Executor<'e, Database = Any>,
) -> Result<Vec<Account>, ProvisionError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sipauth_account ORDER BY username"
    ))
    .fetch_all(executor)
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// The subject of an account the provider pushed before its first sign-in.
pub(crate) fn placeholder_subject(scim_id: &str) -> String {
    format!("scim:{scim_id}")
}

/// The account the provider pushed for `external_id` that no sign-in has linked yet, locked.
pub(crate) async fn find_unlinked_locked(
    w: &mut WriteTx<'_>,
    issuer: &str,
    external_id: &str,
) -> Result<Option<Account>, ProvisionError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sipauth_account WHERE issuer = $1 AND external_id = $2 \
         AND subject LIKE 'scim:%' ORDER BY id LIMIT 1{}",
        w.lock_clause()
    ))
    .bind(issuer.to_string())
    .bind(external_id.to_string())
    .fetch_optional(&mut *w.tx)
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// The account whose link value is `external_id`, locked (the oldest, should several have it).
pub(crate) async fn by_external_id_locked(
    w: &mut WriteTx<'_>,
    issuer: &str,
    external_id: &str,
) -> Result<Option<Account>, ProvisionError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sipauth_account WHERE issuer = $1 AND external_id = $2 \
         ORDER BY id LIMIT 1{}",
        w.lock_clause()
    ))
    .bind(issuer.to_string())
    .bind(external_id.to_string())
    .fetch_optional(&mut *w.tx)
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Gives `account` the subject `subject` (a sign-in links a pushed account), with its SCIM
/// user's link.
pub(crate) async fn relink(
    w: &mut WriteTx<'_>,
    account: &Account,
    subject: &str,
) -> Result<(), ProvisionError> {
    sqlx::query("UPDATE sipauth_account SET subject = $1 WHERE issuer = $2 AND subject = $3")
        .bind(subject.to_string())
        .bind(account.issuer.clone())
        .bind(account.subject.clone())
        .execute(&mut *w.tx)
        .await?;
    sqlx::query(
        "UPDATE sipauth_scim_resource SET account_subject = $1 WHERE issuer = $2 AND account_subject = $3",
    )
    .bind(subject.to_string())
    .bind(account.issuer.clone())
    .bind(account.subject.clone())
    .execute(&mut *w.tx)
    .await?;
    Ok(())
}

/// Moves the lease of `account` from `from` to `to`, unless it changed meanwhile (a sweep, a
/// racing provision): true when moved.
pub(crate) async fn extend_lease<'e>(
    executor: impl Executor<'e, Database = Any>,
    account: &Account,
    from: i64,
    to: i64,
) -> Result<bool, ProvisionError> {
    let done = sqlx::query(
        "UPDATE sipauth_account SET lease_expires_at = $1 \
         WHERE issuer = $2 AND subject = $3 AND lease_expires_at = $4",
    )
    .bind(to)
    .bind(account.issuer.clone())
    .bind(account.subject.clone())
    .bind(from)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Accounts whose lease ended by `now`: (issuer, subject), the oldest first, at most `limit`.
pub(crate) async fn expired_leases<'e>(
    executor: impl Executor<'e, Database = Any>,
    now: i64,
    limit: i64,
) -> Result<Vec<(String, String)>, ProvisionError> {
    let rows = sqlx::query(
        "SELECT issuer, subject FROM sipauth_account \
         WHERE lease_expires_at IS NOT NULL AND lease_expires_at <= $1 \
         ORDER BY lease_expires_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("issuer")?, r.try_get("subject")?)))
        .collect()
}
