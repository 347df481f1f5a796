//! Every statement on `sipauth_retired`: what is kept of an identity whose account an operator
//! deleted. Its last generation, so a new account for the same identity starts after it (an
//! earlier derived password never works again), and its username, which no other identity gets
//! while in quarantine (configurable; forever by default).

use sqlx::{Any, Executor, Row};

use crate::account::Account;
use crate::error::ProvisionError;

/// A deleted account's identity, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Retired {
    pub username: String,
    pub domain: String,
    pub generation: i64,
}

/// Why an account was deleted, as kept: by an operator (the identity may come back), or by the
/// provider's directory (the identity is refused until the provider pushes it again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetiredBy {
    Operator,
    Scim,
}

/// Keeps what `account` leaves behind (replacing an earlier record of the same identity).
pub(crate) async fn record<'e>(
    executor: impl Executor<'e, Database = Any>,
    account: &Account,
    now: i64,
    by: RetiredBy,
) -> Result<(), ProvisionError> {
    sqlx::query(
        "INSERT INTO sipauth_retired (issuer, subject, username, domain, generation, retired_at, refused_by, external_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (issuer, subject) DO UPDATE SET username = excluded.username, \
         domain = excluded.domain, generation = excluded.generation, retired_at = excluded.retired_at, \
         refused_by = excluded.refused_by, external_id = excluded.external_id",
    )
    .bind(account.issuer.clone())
    .bind(account.subject.clone())
    .bind(account.username.clone())
    .bind(account.domain.clone())
    .bind(account.generation)
    .bind(now)
    .bind((by == RetiredBy::Scim).then(|| "scim".to_string()))
    .bind(account.external_id.clone())
    .execute(executor)
    .await?;
    Ok(())
}

/// What was kept of (issuer, subject), if its account was ever deleted.
pub(crate) async fn find<'e>(
    executor: impl Executor<'e, Database = Any>,
    issuer: &str,
    subject: &str,
) -> Result<Option<Retired>, ProvisionError> {
    let row = sqlx::query(
        "SELECT username, domain, generation FROM sipauth_retired WHERE issuer = $1 AND subject = $2",
    )
    .bind(issuer.to_string())
    .bind(subject.to_string())
    .fetch_optional(executor)
    .await?;
    Ok(match row {
        Some(r) => Some(Retired {
            username: r.try_get("username")?,
            domain: r.try_get("domain")?,
            generation: r.try_get("generation")?,
        }),
        None => None,
    })
}

/// True when another identity's deleted account held (username, domain) after `since` (Unix
/// seconds; `None`: ever).
pub(crate) async fn quarantined<'e>(
    executor: impl Executor<'e, Database = Any>,
    username: &str,
    domain: &str,
    issuer: &str,
    subject: &str,
    since: Option<i64>,
) -> Result<bool, ProvisionError> {
    let row = sqlx::query(
        "SELECT 1 AS hit FROM sipauth_retired WHERE username = $1 AND domain = $2 \
         AND NOT (issuer = $3 AND subject = $4) AND retired_at >= $5 LIMIT 1",
    )
    .bind(username.to_string())
    .bind(domain.to_string())
    .bind(issuer.to_string())
    .bind(subject.to_string())
    .bind(since.unwrap_or(i64::MIN))
    .fetch_optional(executor)
    .await?;
    Ok(row.is_some())
}

/// True when the provider's directory deleted the account of (issuer, subject), or of the
/// link value `external_id`, and has not pushed it again.
pub(crate) async fn refused<'e>(
    executor: impl Executor<'e, Database = Any>,
    issuer: &str,
    subject: &str,
    external_id: Option<&str>,
) -> Result<bool, ProvisionError> {
    let row = sqlx::query(
        "SELECT 1 AS hit FROM sipauth_retired WHERE issuer = $1 AND refused_by IS NOT NULL \
         AND (subject = $2 OR external_id = $3) LIMIT 1",
    )
    .bind(issuer.to_string())
    .bind(subject.to_string())
    .bind(external_id.map(str::to_string))
    .fetch_optional(executor)
    .await?;
    Ok(row.is_some())
}
