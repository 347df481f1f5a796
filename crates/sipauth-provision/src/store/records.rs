//! Every statement on `sipauth_record`: [`SharedRecords`], records the service's instances
//! share through the database (the web page's flows and sessions, the back-channel logout
//! replay cache), by kind and id, each with an expiry. What a record holds, and how its id and
//! tags are made, is the caller's: this stores opaque text (the service stores it sealed).

use sqlx::Row;

use crate::error::ProvisionError;
use crate::store::db::Kind;
use crate::store::Database;

/// A record to keep.
#[derive(Debug, Clone, Copy)]
pub struct NewRecord<'a> {
    /// What kind of record (`flow`, `session`, `logout_jti`, ...).
    pub kind: &'a str,
    /// Its id, unique within its kind.
    pub id: &'a str,
    /// What it holds.
    pub data: &'a str,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
    /// A tag naming its person (records of one person end together).
    pub person: Option<&'a str>,
    /// A tag naming its provider session.
    pub sid: Option<&'a str>,
}

/// What [`SharedRecords::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Kept.
    Kept,
    /// A live record of that kind already has that id (nothing changed).
    Exists,
    /// The kind already has its most live records (nothing changed).
    Full,
}

/// Records in the database, shared by every instance on it.
#[derive(Debug, Clone)]
pub struct SharedRecords {
    db: Database,
}

impl SharedRecords {
    /// The records in `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// SQLite's one writer: this process's writes take turns (other processes wait in the busy
    /// timeout).
    async fn turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.db.kind {
            Kind::Sqlite => Some(self.db.writer.lock().await),
            Kind::Postgres => None,
        }
    }

    /// Keeps `record` unless a live one of its kind has its id, or its kind already has `max`
    /// live records at `now` (an expired record with the same id is replaced).
    pub async fn insert(
        &self,
        record: NewRecord<'_>,
        max: i64,
        now: i64,
    ) -> Result<Inserted, ProvisionError> {
        let _turn = self.turn().await;
        let done = sqlx::query(
            "INSERT INTO sipauth_record (kind, id, data, expires_at, person, sid) \
             SELECT $1, $2, $3, $4, $5, $6 \
             WHERE (SELECT COUNT(*) FROM sipauth_record WHERE kind = $1 AND expires_at > $7) < $8 \
             ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data, \
             expires_at = excluded.expires_at, person = excluded.person, sid = excluded.sid \
             WHERE sipauth_record.expires_at <= $7",
        )
        .bind(record.kind.to_string())
        .bind(record.id.to_string())
        .bind(record.data.to_string())
        .bind(record.expires_at)
        .bind(record.person.map(str::to_string))
        .bind(record.sid.map(str::to_string))
        .bind(now)
        .bind(max)
        .execute(&self.db.pool)
        .await?;
        if done.rows_affected() > 0 {
            return Ok(Inserted::Kept);
        }
        let live = sqlx::query(
            "SELECT 1 AS hit FROM sipauth_record WHERE kind = $1 AND id = $2 AND expires_at > $3",
        )
        .bind(record.kind.to_string())
        .bind(record.id.to_string())
        .bind(now)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(if live.is_some() {
            Inserted::Exists
        } else {
            Inserted::Full
        })
    }

    /// The data of the live record `id` of `kind`.
    pub async fn get(
        &self,
        kind: &str,
        id: &str,
        now: i64,
    ) -> Result<Option<String>, ProvisionError> {
        let row = sqlx::query(
            "SELECT data FROM sipauth_record WHERE kind = $1 AND id = $2 AND expires_at > $3",
        )
        .bind(kind.to_string())
        .bind(id.to_string())
        .bind(now)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(row.map(|r| r.try_get("data")).transpose()?)
    }

    /// Removes the record `id` of `kind` and gives its data when it was live: of two instances
    /// taking one record, one has it.
    pub async fn take(
        &self,
        kind: &str,
        id: &str,
        now: i64,
    ) -> Result<Option<String>, ProvisionError> {
        let _turn = self.turn().await;
        let row = sqlx::query(
            "DELETE FROM sipauth_record WHERE kind = $1 AND id = $2 RETURNING data, expires_at",
        )
        .bind(kind.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: i64 = row.try_get("expires_at")?;
        Ok((expires_at > now)
            .then(|| row.try_get("data"))
            .transpose()?)
    }

    /// Removes the record `id` of `kind`.
    pub async fn remove(&self, kind: &str, id: &str) -> Result<(), ProvisionError> {
        let _turn = self.turn().await;
        sqlx::query("DELETE FROM sipauth_record WHERE kind = $1 AND id = $2")
            .bind(kind.to_string())
            .bind(id.to_string())
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Removes every record of `kind` tagged with `person` or `sid`: their data.
    pub async fn remove_tagged(
        &self,
        kind: &str,
        person: Option<&str>,
        sid: Option<&str>,
    ) -> Result<Vec<String>, ProvisionError> {
        if person.is_none() && sid.is_none() {
            return Ok(Vec::new());
        }
        let _turn = self.turn().await;
        let rows = sqlx::query(
            "DELETE FROM sipauth_record WHERE kind = $1 AND (person = $2 OR sid = $3) RETURNING data",
        )
        .bind(kind.to_string())
        .bind(person.map(str::to_string))
        .bind(sid.map(str::to_string))
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("data"))
            .collect::<Result<_, _>>()?)
    }

    /// Removes every record that expired by `now`: how many.
    pub async fn sweep(&self, now: i64) -> Result<u64, ProvisionError> {
        let _turn = self.turn().await;
        let done = sqlx::query("DELETE FROM sipauth_record WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.db.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
