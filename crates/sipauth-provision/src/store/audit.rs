//! [`AuditLog`]: the audit table's writer for provisions that change nothing but the log. Rows
//! are written by group commit: a request hands its row to one writer task and waits until the
//! transaction holding it has committed, so a 200 is never answered before its audit row is in
//! the database, yet a burst of requests shares one write transaction (SQLite has one writer at
//! a time; one transaction per request would make the audit row the service's bottleneck).
//! Provisions that change an account write their audit row in their own transaction instead
//! ([`insert`]); [`since`] reads the log; [`sweep`] drops rows past the retention.

use sqlx::pool::PoolConnection;
use sqlx::{Any, Executor, Row};
use tokio::sync::{mpsc, oneshot};

use super::db::{Database, Kind};
use crate::account::AuditEntry;
use crate::error::ProvisionError;

/// The most rows one transaction takes.
const BATCH: usize = 256;

/// One row of `sipauth_audit`.
#[derive(Debug, Clone)]
pub(crate) struct AuditRow {
    pub at: i64,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub username: Option<String>,
    pub action: &'static str,
    pub outcome: String,
    pub client_ip: Option<String>,
}

type Job = (AuditRow, oneshot::Sender<Result<(), String>>);

/// The writer's handle.
#[derive(Debug, Clone)]
pub(crate) struct AuditLog {
    jobs: mpsc::Sender<Job>,
}

impl AuditLog {
    /// Starts the writer task on the current runtime; it ends when every handle is dropped.
    pub(crate) fn start(db: Database) -> Self {
        let (jobs, mut queue) = mpsc::channel::<Job>(BATCH * 4);
        tokio::spawn(async move {
            let mut batch: Vec<Job> = Vec::with_capacity(BATCH);
            // One connection of its own while it works: its page cache stays warm (on SQLite,
            // a connection other writers' commits went past re-reads its pages).
            let mut held: Option<PoolConnection<Any>> = None;
            while let Some(first) = queue.recv().await {
                batch.push(first);
                while batch.len() < BATCH {
                    match queue.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let result = write(&db, &mut held, &batch)
                    .await
                    .map_err(|e| e.to_string());
                if result.is_err() {
                    // A connection that failed is not used again.
                    held = None;
                    // The rows that queued while this batch failed (the database is away) fail
                    // with it: each request is answered after one wait for the database, never
                    // after one per batch ahead of it.
                    while let Ok(job) = queue.try_recv() {
                        batch.push(job);
                    }
                }
                for (_, done) in batch.drain(..) {
                    let _ = done.send(result.clone());
                }
            }
        });
        Self { jobs }
    }

    /// Appends `row`, returning once it is committed.
    pub(crate) async fn append(&self, row: AuditRow) -> Result<(), ProvisionError> {
        let (done, committed) = oneshot::channel();
        self.jobs
            .send((row, done))
            .await
            .map_err(|_| ProvisionError::Database("the audit writer stopped".into()))?;
        committed
            .await
            .map_err(|_| ProvisionError::Database("the audit writer stopped".into()))?
            .map_err(ProvisionError::Database)
    }
}

async fn write(
    db: &Database,
    held: &mut Option<PoolConnection<Any>>,
    batch: &[Job],
) -> Result<(), sqlx::Error> {
    let _writer = match db.kind {
        Kind::Sqlite => Some(db.writer.lock().await),
        Kind::Postgres => None,
    };
    let sql = insert_statement(batch.len());
    let insert = || {
        let mut insert = sqlx::query::<Any>(&sql);
        for (row, _) in batch {
            insert = bind(insert, row);
        }
        insert
    };
    // One statement in autocommit mode: one write transaction for the whole batch. A held
    // connection that went stale (the server closed it while idle) gets one more try on a
    // fresh one.
    if let Some(connection) = held.as_mut() {
        if insert().execute(&mut **connection).await.is_ok() {
            return Ok(());
        }
        *held = None;
    }
    let connection = held.insert(db.pool.acquire().await?);
    insert().execute(&mut **connection).await?;
    Ok(())
}

/// `INSERT` of `rows` audit rows, with `$n` placeholders (which SQLite and PostgreSQL read).
fn insert_statement(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO sipauth_audit (at, issuer, subject, username, action, outcome, client_ip) VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        let n = i * 7;
        let places: Vec<String> = (1..=7).map(|k| format!("${}", n + k)).collect();
        sql.push_str(&format!("({})", places.join(", ")));
    }
    sql
}

/// Binds one row's seven values, in [`insert_statement`]'s order.
fn bind<'q>(
    query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    row: &AuditRow,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(row.at)
        .bind(row.issuer.clone())
        .bind(row.subject.clone())
        .bind(row.username.clone())
        .bind(row.action.to_string())
        .bind(row.outcome.clone())
        .bind(row.client_ip.clone())
}

/// Writes `row` in the caller's transaction (a change and its audit row commit together).
pub(crate) async fn insert<'e>(
    executor: impl Executor<'e, Database = Any>,
    row: &AuditRow,
) -> Result<(), ProvisionError> {
    let sql = insert_statement(1);
    bind(sqlx::query(&sql), row).execute(executor).await?;
    Ok(())
}

/// Audit entries since `since` (Unix seconds), oldest first.
pub(crate) async fn since<'e>(
    executor: impl Executor<'e, Database = Any>,
    since: i64,
) -> Result<Vec<AuditEntry>, ProvisionError> {
    let rows = sqlx::query("SELECT at, issuer, subject, username, action, outcome, client_ip FROM sipauth_audit WHERE at >= $1 ORDER BY id")
        .bind(since)
        .fetch_all(executor)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(AuditEntry {
                at: r.try_get("at")?,
                issuer: r.try_get("issuer")?,
                subject: r.try_get("subject")?,
                username: r.try_get("username")?,
                action: r.try_get("action")?,
                outcome: r.try_get("outcome")?,
                client_ip: r.try_get("client_ip")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(ProvisionError::from)
}

/// Deletes the rows written before `before` (Unix seconds); how many.
pub(crate) async fn sweep<'e>(
    executor: impl Executor<'e, Database = Any>,
    before: i64,
) -> Result<u64, ProvisionError> {
    let done = sqlx::query("DELETE FROM sipauth_audit WHERE at < $1")
        .bind(before)
        .execute(executor)
        .await?;
    Ok(done.rows_affected())
}
