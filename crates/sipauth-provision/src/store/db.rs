//! [`Database`]: where accounts, the audit log and Kamailio's `subscriber` table live. SQLite by
//! default (a file: WAL from its first opening, `synchronous=NORMAL`, a busy timeout), and
//! PostgreSQL by URL when several service instances share it; the same embedded migrations
//! (`migrations/sqlite`, `migrations/postgres`) and the same queries (sqlx's `Any` driver,
//! checked at run time, so building needs no database). A SQLite file this creates is 0600 in a
//! 0700 directory.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::AnyPool;

use crate::error::ProvisionError;

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Sqlite,
    Postgres,
}

/// A connection pool with its migrations applied.
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) pool: AnyPool,
    /// Its URL (the account cache's PostgreSQL listener connects with it).
    url: Arc<str>,
    pub(crate) kind: Kind,
    /// SQLite has one writer: write transactions of this process take turns here rather than
    /// meeting as `SQLITE_BUSY` (other processes wait in SQLite's busy timeout).
    pub(crate) writer: Arc<tokio::sync::Mutex<()>>,
}

impl Database {
    /// Opens `url` (`postgres://...`, `sqlite:PATH`, or a plain path: SQLite) and applies the
    /// migrations. A SQLite file is created when missing.
    pub async fn open(url: &str) -> Result<Self, ProvisionError> {
        sqlx::any::install_default_drivers();
        let (kind, url) = if Self::is_postgres_url(url) {
            (Kind::Postgres, url.to_string())
        } else {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url);
            create_private_file(std::path::Path::new(path))?;
            (Kind::Sqlite, format!("sqlite://{path}?mode=rwc"))
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| ProvisionError::Config(format!("database URL: {e}")))?;
        let pool = AnyPoolOptions::new()
            .max_connections(match kind {
                Kind::Sqlite => 4,
                Kind::Postgres => 16,
            })
            // How long a request waits for a connection: SQLite's writers queue in this
            // process; PostgreSQL's pool is only busy when the server is gone or overloaded,
            // and then an answer at once (503, Retry-After) beats one after the outage.
            .acquire_timeout(match kind {
                Kind::Sqlite => Duration::from_secs(5),
                Kind::Postgres => Duration::from_secs(1),
            })
            // A ping before every acquire doubles the round trips of a provision; a dead
            // connection fails its statement and the pool replaces it.
            .test_before_acquire(false)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if kind == Kind::Sqlite {
                        use sqlx::Executor;
                        // WAL before anything else touches the file: switching later, while
                        // Kamailio holds it open, fails with "database is locked".
                        conn.execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let db = Self {
            pool,
            url: Arc::from(url.as_str()),
            kind,
            writer: Arc::new(tokio::sync::Mutex::new(())),
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<(), ProvisionError> {
        let migrator = match self.kind {
            Kind::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Kind::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| ProvisionError::Database(format!("migrations: {e}")))
    }

    /// The connection pool (for operators' queries and tests).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Its URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// True on PostgreSQL: the database several instances share.
    pub fn is_shared(&self) -> bool {
        self.kind == Kind::Postgres
    }

    /// True for a URL naming PostgreSQL.
    pub fn is_postgres_url(url: &str) -> bool {
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    /// True when the database answers.
    pub async fn is_ready(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// Creates a missing SQLite file 0600 in a directory made 0700: it holds HA1 values, and SQLite
/// gives its `-wal` and `-shm` files the database file's mode. An existing file keeps its mode
/// (Kamailio reading it as another user is the operator's arrangement).
fn create_private_file(path: &std::path::Path) -> Result<(), ProvisionError> {
    match sipauth::create_private_file(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(ProvisionError::Config(format!(
            "database {}: {e}",
            path.display()
        ))),
    }
}
