//! [`AccountCache`]: what the provisioning fast path read of an account (the account and its
//! `subscriber` row), so an unchanged account is answered without a database round trip, and
//! kept true: every change, whoever makes it, drops what is cached of it.
//!
//! - This process's write transactions clear the cache when they commit ([`AccountCache::clear`]
//!   from `Provisioner::finish`), before their caller answers.
//! - Other processes: on PostgreSQL, triggers announce each change to an account or a
//!   `subscriber` row on the `sipauth_changes` channel (`migrations/postgres/0009_changes.sql`)
//!   and a listener drops that key, usually within milliseconds of the commit; on SQLite,
//!   triggers bump a change counter that a watcher reads every [`SQLITE_POLL`].
//! - The cache is used only while its watcher is connected: a listener that loses its
//!   connection drops everything and the fast path reads the database until it is back (and
//!   clears again on reconnecting: what changed meanwhile was never announced to it).
//! - A read that began before an invalidation never lands after it: every invalidation moves an
//!   epoch, and a read is kept only if the epoch it began under is still current.
//!
//! Bounded: at most [`MAX_ENTRIES`] accounts (about 1 KB each); past it, an arbitrary one makes
//! room.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::backend::Current;
use crate::store::Database;

/// The most accounts kept.
pub(crate) const MAX_ENTRIES: usize = 50_000;
/// How often the SQLite watcher reads the change counter.
pub(crate) const SQLITE_POLL: Duration = Duration::from_millis(10);
/// The PostgreSQL channel changes are announced on.
const CHANNEL: &str = "sipauth_changes";

#[derive(Default)]
struct Entries {
    epoch: u64,
    /// By `issuer\nsubject`.
    accounts: HashMap<String, Arc<Current>>,
    /// `username@domain` of each cached account's row, to its key.
    rows: HashMap<String, String>,
}

impl Entries {
    fn clear(&mut self) {
        self.epoch += 1;
        self.accounts.clear();
        self.rows.clear();
    }

    fn forget(&mut self, key: &str) {
        self.epoch += 1;
        if let Some(current) = self.accounts.remove(key) {
            self.rows.remove(&row_key(&current));
        }
    }
}

/// The account cache of one process.
#[derive(Default)]
pub(crate) struct AccountCache {
    entries: Mutex<Entries>,
    /// True while the watcher is connected: only then is the cache read or filled.
    live: AtomicBool,
    /// Lookups answered from the cache, and those that read the database.
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for AccountCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountCache")
            .field("live", &self.live.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// What a lookup found.
pub(crate) enum Lookup {
    /// The account as cached.
    Hit(Arc<Current>),
    /// Not cached: read it, then [`AccountCache::keep`] it with this epoch.
    Miss(u64),
    /// The cache is off (its watcher is not connected): read, keep nothing.
    Off,
}

fn key(issuer: &str, subject: &str) -> String {
    format!("{issuer}\n{subject}")
}

fn row_key(current: &Current) -> String {
    format!("{}@{}", current.account.username, current.account.domain)
}

impl AccountCache {
    /// A cache whose watcher for `db` runs on the current runtime for as long as the cache
    /// lives.
    pub(crate) fn start(db: &Database) -> Arc<Self> {
        let cache = Arc::new(Self::default());
        let weak = Arc::downgrade(&cache);
        let db = db.clone();
        tokio::spawn(async move {
            if db.is_shared() {
                listen(weak, db).await;
            } else {
                poll(weak, db).await;
            }
        });
        cache
    }

    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, issuer: &str, subject: &str) -> Lookup {
        if !self.live.load(Ordering::Acquire) {
            return Lookup::Off;
        }
        let entries = self.entries();
        match entries.accounts.get(&key(issuer, subject)) {
            Some(current) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Hit(Arc::clone(current))
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                Lookup::Miss(entries.epoch)
            }
        }
    }

    /// Lookups answered from the cache and lookups that read the database, since the start.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Keeps what a read begun under `epoch` found, unless something changed since.
    pub(crate) fn keep(&self, epoch: u64, current: &Arc<Current>) {
        if !self.live.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.entries();
        if entries.epoch != epoch {
            return;
        }
        let key = key(&current.account.issuer, &current.account.subject);
        if entries.accounts.len() >= MAX_ENTRIES && !entries.accounts.contains_key(&key) {
            if let Some(evicted) = entries.accounts.keys().next().cloned() {
                if let Some(old) = entries.accounts.remove(&evicted) {
                    entries.rows.remove(&row_key(&old));
                }
            }
        }
        entries.rows.insert(row_key(current), key.clone());
        entries.accounts.insert(key, Arc::clone(current));
    }

    /// Drops everything (a change of this process committed, or the watcher lost track).
    pub(crate) fn clear(&self) {
        self.entries().clear();
    }

    /// Drops one account.
    pub(crate) fn forget(&self, issuer: &str, subject: &str) {
        self.entries().forget(&key(issuer, subject));
    }

    /// Applies an announcement from the `sipauth_changes` channel.
    fn announced(&self, payload: &str) {
        let mut entries = self.entries();
        if let Some(account) = payload.strip_prefix('a') {
            entries.forget(account);
        } else if payload.starts_with('p') {
            // A listener's own ping: not a change.
        } else if let Some(row) = payload.strip_prefix('s') {
            match entries.rows.get(row).cloned() {
                Some(key) => entries.forget(&key),
                None => entries.epoch += 1,
            }
        } else {
            entries.clear();
        }
    }

    fn set_live(&self, live: bool) {
        // Whatever happened while not watching was never announced: start over either way.
        self.live.store(live, Ordering::Release);
        self.clear();
    }
}

/// PostgreSQL: listens on the channel (once its own ping came back); on any failure the cache
/// goes off and the listener reconnects (100 ms, doubling to 30 s).
async fn listen(cache: std::sync::Weak<AccountCache>, db: Database) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let listener = async {
            let mut l = sqlx::postgres::PgListener::connect(db.url()).await?;
            l.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        }
        .await;
        // Announcements must really arrive: a transaction-mode pooler accepts `LISTEN` and
        // delivers nothing. One sent through the pool must come back before the cache is used.
        let listener = match listener {
            Ok(mut l) => match heard_own_ping(&mut l, &db).await {
                Ok(true) => Ok(l),
                Ok(false) => {
                    tracing::warn!("PostgreSQL notifications do not arrive (a transaction-mode pooler in between?): the account cache stays off");
                    Err(sqlx::Error::PoolTimedOut)
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let Some(c) = cache.upgrade() else { return };
        match listener {
            Ok(mut listener) => {
                c.set_live(true);
                drop(c);
                backoff = Duration::from_millis(100);
                loop {
                    // `try_recv`: a lost connection is an error here, never a silent
                    // reconnection that would miss what changed meanwhile.
                    let next = listener.try_recv().await;
                    let Some(c) = cache.upgrade() else { return };
                    match next {
                        Ok(Some(n)) => c.announced(n.payload()),
                        Ok(None) | Err(_) => {
                            tracing::warn!(
                                "the account cache lost its PostgreSQL listener; reconnecting"
                            );
                            c.set_live(false);
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "the account cache's listener cannot connect");
                c.set_live(false);
                drop(c);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Sends a ping on the channel through the pool and waits up to 2 s for `listener` to hear it.
async fn heard_own_ping(
    listener: &mut sqlx::postgres::PgListener,
    db: &Database,
) -> Result<bool, sqlx::Error> {
    let ping = format!(
        "p{}",
        sipauth::random_urlsafe(12).map_err(|e| sqlx::Error::Protocol(e.to_string()))?
    );
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(ping.clone())
        .execute(db.pool())
        .await?;
    let heard = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match listener.try_recv().await? {
                Some(n) if n.payload() == ping => return Ok(true),
                Some(_) => {}
                None => return Ok(false),
            }
        }
    })
    .await;
    match heard {
        Ok(result) => result,
        Err(_) => Ok(false),
    }
}

/// SQLite: reads the change counter every [`SQLITE_POLL`]; the cache is off while it cannot.
async fn poll(cache: std::sync::Weak<AccountCache>, db: Database) {
    let mut last: Option<i64> = None;
    let mut every = tokio::time::interval(SQLITE_POLL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let counter: Result<i64, sqlx::Error> =
            sqlx::query_scalar("SELECT counter FROM sipauth_changes WHERE id = 1")
                .fetch_one(db.pool())
                .await;
        let Some(c) = cache.upgrade() else { return };
        match (counter, last) {
            (Ok(now), Some(before)) if now == before => {}
            (Ok(now), Some(_)) => {
                c.clear();
                last = Some(now);
            }
            (Ok(now), None) => {
                c.set_live(true);
                last = Some(now);
            }
            (Err(_), _) => {
                if last.is_some() {
                    c.set_live(false);
                }
                last = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Account;

    fn current(subject: &str) -> Arc<Current> {
        Arc::new(Current::for_tests(Account::for_tests(subject, subject)))
    }

    fn live() -> AccountCache {
        let cache = AccountCache::default();
        cache.set_live(true);
        cache
    }

    fn epoch_of(cache: &AccountCache, subject: &str) -> u64 {
        match cache.get("https://idp", subject) {
            Lookup::Miss(epoch) => epoch,
            Lookup::Hit(_) => panic!("{subject} is cached"),
            Lookup::Off => panic!("the cache is off"),
        }
    }

    #[test]
    fn keeps_a_read_and_answers_it_until_its_account_changes() {
        let cache = live();
        let epoch = epoch_of(&cache, "ana");
        cache.keep(epoch, &current("ana"));
        assert!(
            matches!(cache.get("https://idp", "ana"), Lookup::Hit(c) if c.account.subject == "ana")
        );
        cache.announced("ahttps://idp\nana");
        epoch_of(&cache, "ana");
        // A row's announcement finds its account.
        cache.keep(epoch_of(&cache, "ana"), &current("ana"));
        cache.announced("sana@sip.example.com");
        epoch_of(&cache, "ana");
        assert_eq!(cache.counts(), (1, 4));
    }

    #[test]
    fn rejects_a_read_that_began_before_a_change() {
        let cache = live();
        let epoch = epoch_of(&cache, "bo");
        // Another account changed while "bo" was being read: the read may be older than a
        // change to "bo" announced in the same breath, so it is not kept.
        cache.announced("ahttps://idp\nsomeone-else");
        cache.keep(epoch, &current("bo"));
        epoch_of(&cache, "bo");
        cache.keep(epoch_of(&cache, "bo"), &current("bo"));
        cache.clear();
        epoch_of(&cache, "bo");
    }

    #[test]
    fn rejects_growing_past_its_bound_and_keeps_the_newest() {
        let cache = live();
        for i in 0..=MAX_ENTRIES {
            let subject = format!("p{i}");
            cache.keep(epoch_of(&cache, &subject), &current(&subject));
        }
        let entries = cache.entries();
        assert_eq!(entries.accounts.len(), MAX_ENTRIES);
        assert_eq!(entries.rows.len(), MAX_ENTRIES);
        drop(entries);
        let newest = format!("p{MAX_ENTRIES}");
        assert!(matches!(cache.get("https://idp", &newest), Lookup::Hit(_)));
    }

    #[test]
    fn rejects_use_while_its_watcher_is_away_and_starts_over_when_back() {
        let cache = live();
        cache.keep(epoch_of(&cache, "cy"), &current("cy"));
        cache.set_live(false);
        assert!(matches!(cache.get("https://idp", "cy"), Lookup::Off));
        cache.keep(0, &current("cy"));
        cache.set_live(true);
        epoch_of(&cache, "cy");
        // Anything else announced clears everything.
        cache.keep(epoch_of(&cache, "cy"), &current("cy"));
        cache.announced("*");
        epoch_of(&cache, "cy");
    }
}
