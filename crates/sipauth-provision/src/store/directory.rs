//! Every statement on `sipauth_scim_resource` and `sipauth_scim_member`: the users and groups
//! an identity provider pushed (SCIM), per issuer, with their attributes as JSON, a version
//! that moves on every change, and for a user the account it governs.

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::directory::{EntryKind, Related};
use crate::error::ProvisionError;
use crate::store::WriteTx;

/// A stored resource.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub id: String,
    pub kind: EntryKind,
    pub display: String,
    pub external_id: Option<String>,
    pub account_subject: Option<String>,
    pub active: bool,
    pub body: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, kind, display, external_id, account_subject, active, body, version, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<Stored, ProvisionError> {
    let kind: String = row.try_get("kind")?;
    Ok(Stored {
        id: row.try_get("id")?,
        kind: EntryKind::from_name(&kind)
            .ok_or_else(|| ProvisionError::Database(format!("unknown SCIM kind {kind}")))?,
        display: row.try_get("display")?,
        external_id: row.try_get("external_id")?,
        account_subject: row.try_get("account_subject")?,
        active: row.try_get::<i64, _>("active")? != 0,
        body: row.try_get("body")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// One resource of `issuer` by id (any kind).
pub(crate) async fn get<'e>(
    executor: impl Executor<'e, Database = Any>,
    issuer: &str,
    id: &str,
) -> Result<Option<Stored>, ProvisionError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sipauth_scim_resource WHERE issuer = $1 AND id = $2"
    ))
    .bind(issuer.to_string())
    .bind(id.to_string())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// One resource of `issuer` by id, locked for the rest of `w`'s transaction.
pub(crate) async fn get_locked(
    w: &mut WriteTx<'_>,
    issuer: &str,
    id: &str,
) -> Result<Option<Stored>, ProvisionError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sipauth_scim_resource WHERE issuer = $1 AND id = $2{}",
        w.lock_clause()
    ))
    .bind(issuer.to_string())
    .bind(id.to_string())
    .fetch_optional(&mut *w.tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every resource of one kind of `issuer`, oldest first.
pub(crate) async fn list<'e>(
    executor: impl Executor<'e, Database = Any>,
    issuer: &str,
    kind: EntryKind,
) -> Result<Vec<Stored>, ProvisionError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sipauth_scim_resource WHERE issuer = $1 AND kind = $2 \
         ORDER BY created_at, id"
    ))
    .bind(issuer.to_string())
    .bind(kind.name())
    .fetch_all(executor)
    .await?;
    rows.iter().map(from_row).collect()
}

/// True when another user of `issuer` has this userName (case-insensitive, RFC 7643 4.1.1).
pub(crate) async fn user_name_taken<'e>(
    executor: impl Executor<'e, Database = Any>,
    issuer: &str,
    name: &str,
    except_id: &str,
) -> Result<bool, ProvisionError> {
    let row = sqlx::query(
        "SELECT 1 AS hit FROM sipauth_scim_resource WHERE issuer = $1 AND kind = 'User' \
         AND name_key = $2 AND id <> $3",
    )
    .bind(issuer.to_string())
    .bind(name.to_lowercase())
    .bind(except_id.to_string())
    .fetch_optional(executor)
    .await?;
    Ok(row.is_some())
}

/// Inserts a resource.
pub(crate) async fn insert<'e>(
    executor: impl Executor<'e, Database = Any>,
    issuer: &str,
    s: &Stored,
) -> Result<(), ProvisionError> {
    sqlx::query(
        "INSERT INTO sipauth_scim_resource (id, issuer, kind, name_key, display, external_id, \
         account_subject, active, body, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(s.id.clone())
    .bind(issuer.to_string())
    .bind(s.kind.name())
    .bind(s.display.to_lowercase())
    .bind(s.display.clone())
    .bind(s.external_id.clone())
    .bind(s.account_subject.clone())
    .bind(i64::from(s.active))
    .bind(s.body.clone())
    .bind(s.version)
    .bind(s.created_at)
    .bind(s.updated_at)
    .execute(executor)
    .await?;
    Ok(())
}

/// Writes a resource's new state (by id).
pub(crate) async fn update<'e>(
    executor: impl Executor<'e, Database = Any>,
    issuer: &str,
    s: &Stored,
) -> Result<(), ProvisionError> {
    sqlx::query(
        "UPDATE sipauth_scim_resource SET name_key = $3, display = $4, external_id = $5, \
         account_subject = $6, active = $7, body = $8, version = $9, updated_at = $10 \
         WHERE issuer = $1 AND id = $2",
    )
    .bind(issuer.to_string())
    .bind(s.id.clone())
    .bind(s.display.to_lowercase())
    .bind(s.display.clone())
    .bind(s.external_id.clone())
    .bind(s.account_subject.clone())
    .bind(i64::from(s.active))
    .bind(s.body.clone())
    .bind(s.version)
    .bind(s.updated_at)
    .execute(executor)
    .await?;
    Ok(())
}

/// Deletes a resource and its memberships.
pub(crate) async fn delete(
    w: &mut WriteTx<'_>,
    issuer: &str,
    id: &str,
) -> Result<(), ProvisionError> {
    sqlx::query("DELETE FROM sipauth_scim_member WHERE group_id = $1 OR user_id = $1")
        .bind(id.to_string())
        .execute(&mut *w.tx)
        .await?;
    sqlx::query("DELETE FROM sipauth_scim_resource WHERE issuer = $1 AND id = $2")
        .bind(issuer.to_string())
        .bind(id.to_string())
        .execute(&mut *w.tx)
        .await?;
    Ok(())
}

/// Replaces a group's members.
pub(crate) async fn set_members(
    w: &mut WriteTx<'_>,
    group_id: &str,
    members: &[String],
) -> Result<(), ProvisionError> {
    sqlx::query("DELETE FROM sipauth_scim_member WHERE group_id = $1")
        .bind(group_id.to_string())
        .execute(&mut *w.tx)
        .await?;
    for user in members {
        sqlx::query(
            "INSERT INTO sipauth_scim_member (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(group_id.to_string())
        .bind(user.clone())
        .execute(&mut *w.tx)
        .await?;
    }
    Ok(())
}

/// The other side of `id`'s memberships: a user's groups, or a group's members, with their
/// display (group displayName, user userName), by display.
pub(crate) async fn related<'e>(
    executor: impl Executor<'e, Database = Any>,
    kind: EntryKind,
    id: &str,
) -> Result<Vec<Related>, ProvisionError> {
    let sql = match kind {
        EntryKind::User => {
            "SELECT r.id, r.display FROM sipauth_scim_member m \
             JOIN sipauth_scim_resource r ON r.id = m.group_id WHERE m.user_id = $1 ORDER BY r.display"
        }
        EntryKind::Group => {
            "SELECT r.id, r.display FROM sipauth_scim_member m \
             JOIN sipauth_scim_resource r ON r.id = m.user_id WHERE m.group_id = $1 ORDER BY r.display"
        }
    };
    let rows = sqlx::query(sql)
        .bind(id.to_string())
        .fetch_all(executor)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Related {
                id: r.try_get("id")?,
                display: r.try_get("display")?,
            })
        })
        .collect()
}

/// Every membership of `issuer`'s groups: (group id, user id).
pub(crate) async fn memberships<'e>(
    executor: impl Executor<'e, Database = Any>,
    issuer: &str,
) -> Result<Vec<(String, String)>, ProvisionError> {
    let rows = sqlx::query(
        "SELECT m.group_id, m.user_id FROM sipauth_scim_member m \
         JOIN sipauth_scim_resource g ON g.id = m.group_id WHERE g.issuer = $1",
    )
    .bind(issuer.to_string())
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("group_id")?, r.try_get("user_id")?)))
        .collect()
}

/// The displayNames of the groups whose member is the user governing (issuer, subject).
pub(crate) async fn groups_of<'e>(
    executor: impl Executor<'e, Database = Any>,
    issuer: &str,
    subject: &str,
) -> Result<Vec<String>, ProvisionError> {
    let rows = sqlx::query(
        "SELECT g.display FROM sipauth_scim_resource u \
         JOIN sipauth_scim_member m ON m.user_id = u.id \
         JOIN sipauth_scim_resource g ON g.id = m.group_id \
         WHERE u.issuer = $1 AND u.account_subject = $2 AND u.kind = 'User'",
    )
    .bind(issuer.to_string())
    .bind(subject.to_string())
    .fetch_all(executor)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("display")?)).collect()
}

/// True when `id` is one of `issuer`'s users.
pub(crate) async fn is_user<'e>(
    executor: impl Executor<'e, Database = Any>,
    issuer: &str,
    id: &str,
) -> Result<bool, ProvisionError> {
    let row = sqlx::query(
        "SELECT 1 AS hit FROM sipauth_scim_resource WHERE issuer = $1 AND id = $2 AND kind = 'User'",
    )
    .bind(issuer.to_string())
    .bind(id.to_string())
    .fetch_optional(executor)
    .await?;
    Ok(row.is_some())
}
