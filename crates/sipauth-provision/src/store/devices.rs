//! Every statement on `sipauth_device`: the devices of a person with credentials per device,
//! each keyed by (issuer, subject, name) and holding a digest username unique in its domain.

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::account::{Account, Device};
use crate::error::ProvisionError;
use crate::store::WriteTx;

const COLUMNS: &str = "id, name, auth_username, user_agent, created_at, last_provisioned_at";

fn from_row(row: &AnyRow) -> Result<Device, sqlx::Error> {
    Ok(Device {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        authorization_username: row.try_get("auth_username")?,
        user_agent: row.try_get("user_agent")?,
        created_at: row.try_get("created_at")?,
        last_provisioned_at: row.try_get("last_provisioned_at")?,
    })
}

/// The key a name is unique by: trimmed and lowercase.
pub(crate) fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// The account's devices, oldest first.
pub(crate) async fn list<'e>(
    executor: impl Executor<'e, Database = Any>,
    account: &Account,
) -> Result<Vec<Device>, ProvisionError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sipauth_device WHERE issuer = $1 AND subject = $2 ORDER BY created_at, id"
    ))
    .bind(account.issuer.clone())
    .bind(account.subject.clone())
    .fetch_all(executor)
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// The account's device named `name` (by its key), locked for the rest of `w`.
pub(crate) async fn find_by_name(
    w: &mut WriteTx<'_>,
    account: &Account,
    name: &str,
) -> Result<Option<Device>, ProvisionError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sipauth_device WHERE issuer = $1 AND subject = $2 AND name_key = $3{}",
        w.lock_clause()
    ))
    .bind(account.issuer.clone())
    .bind(account.subject.clone())
    .bind(name_key(name))
    .fetch_optional(&mut *w.tx)
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// True when a device anywhere holds this digest username in `domain`.
pub(crate) async fn auth_username_taken<'e>(
    executor: impl Executor<'e, Database = Any>,
    auth_username: &str,
    domain: &str,
) -> Result<bool, ProvisionError> {
    let row =
        sqlx::query("SELECT 1 AS hit FROM sipauth_device WHERE auth_username = $1 AND domain = $2")
            .bind(auth_username.to_string())
            .bind(domain.to_string())
            .fetch_optional(executor)
            .await?;
    Ok(row.is_some())
}

/// Records a new device of the account.
pub(crate) async fn insert<'e>(
    executor: impl Executor<'e, Database = Any>,
    account: &Account,
    device: &Device,
) -> Result<(), ProvisionError> {
    sqlx::query(
        "INSERT INTO sipauth_device (id, issuer, subject, name, name_key, auth_username, domain, user_agent, created_at, last_provisioned_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(device.id.clone())
    .bind(account.issuer.clone())
    .bind(account.subject.clone())
    .bind(device.name.clone())
    .bind(name_key(&device.name))
    .bind(device.authorization_username.clone())
    .bind(account.domain.clone())
    .bind(device.user_agent.clone())
    .bind(device.created_at)
    .bind(device.last_provisioned_at)
    .execute(executor)
    .await?;
    Ok(())
}

/// The device provisioned again now (by `user_agent`, when known).
pub(crate) async fn touch<'e>(
    executor: impl Executor<'e, Database = Any>,
    device: &Device,
    user_agent: Option<&str>,
    now: i64,
) -> Result<(), ProvisionError> {
    sqlx::query(
        "UPDATE sipauth_device SET last_provisioned_at = $1, user_agent = COALESCE($2, user_agent) WHERE id = $3",
    )
    .bind(now)
    .bind(user_agent.map(str::to_string))
    .bind(device.id.clone())
    .execute(executor)
    .await?;
    Ok(())
}

/// Forgets one device of the account; false when it has none of that id.
pub(crate) async fn delete<'e>(
    executor: impl Executor<'e, Database = Any>,
    account: &Account,
    id: &str,
) -> Result<bool, ProvisionError> {
    let done =
        sqlx::query("DELETE FROM sipauth_device WHERE issuer = $1 AND subject = $2 AND id = $3")
            .bind(account.issuer.clone())
            .bind(account.subject.clone())
            .bind(id.to_string())
            .execute(executor)
            .await?;
    Ok(done.rows_affected() > 0)
}
