//! Where the web page keeps its records: started sign-ins (flows) and signed-in browsers
//! (sessions), each behind [`Records`], a small store trait keyed by a random id, with records
//! that expire. [`MemoryRecords`] keeps them in this process (bounded; expired ones swept when
//! full); a shared implementation (PostgreSQL, for several instances) fits behind the same
//! trait without touching the page.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

/// What a store's operations return.
pub(crate) type StoreFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A store failed (a shared store's database, say); the page answers 503.
#[derive(Debug, thiserror::Error)]
#[error("the web page's store failed: {0}")]
pub(crate) struct StoreError(pub String);

/// Records of one kind, by id, each living `ttl` seconds from its `created` time.
pub(crate) trait Records<T>: Send + Sync + std::fmt::Debug {
    /// Keeps `record`, made at `created` (Unix seconds), under `id`.
    fn put(&self, id: String, record: T, created: i64) -> StoreFuture<'_, ()>;
    /// The record under `id`, unless it expired by `now`.
    fn get<'a>(&'a self, id: &'a str, now: i64) -> StoreFuture<'a, Option<T>>;
    /// Forgets the record under `id`.
    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;
    /// Forgets every record `which` picks (a person's sessions, when the provider ends their
    /// access); the records forgotten.
    fn remove_where<'a>(
        &'a self,
        which: &'a (dyn Fn(&T) -> bool + Sync),
    ) -> StoreFuture<'a, Vec<T>>;
}

/// Records in this process's memory: at most `max`. A full store sweeps its expired records
/// (only then: an insert is O(1) until the store fills); when all are live, a new record is
/// refused (the page answers 503) — never a signed-in browser dropped to make room.
#[derive(Debug)]
pub(crate) struct MemoryRecords<T> {
    ttl: i64,
    max: usize,
    records: Mutex<HashMap<String, (T, i64)>>,
}

impl<T> MemoryRecords<T> {
    pub(crate) fn new(ttl: i64, max: usize) -> Self {
        Self {
            ttl,
            max,
            records: Mutex::new(HashMap::new()),
        }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<String, (T, i64)>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T: Clone + Send + Sync + std::fmt::Debug + 'static> Records<T> for MemoryRecords<T> {
    fn put(&self, id: String, record: T, created: i64) -> StoreFuture<'_, ()> {
        let mut records = self.records();
        let ttl = self.ttl;
        if records.len() >= self.max {
            records.retain(|_, (_, at)| created - *at < ttl);
        }
        let result = if records.len() >= self.max {
            Err(StoreError(format!(
                "{} live records, the most kept",
                self.max
            )))
        } else {
            records.insert(id, (record, created));
            Ok(())
        };
        Box::pin(async { result })
    }

    fn get<'a>(&'a self, id: &'a str, now: i64) -> StoreFuture<'a, Option<T>> {
        let found = self
            .records()
            .get(id)
            .filter(|(_, at)| now - *at < self.ttl)
            .map(|(r, _)| r.clone());
        Box::pin(async move { Ok(found) })
    }

    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        self.records().remove(id);
        Box::pin(async { Ok(()) })
    }

    fn remove_where<'a>(
        &'a self,
        which: &'a (dyn Fn(&T) -> bool + Sync),
    ) -> StoreFuture<'a, Vec<T>> {
        let mut records = self.records();
        let ids: Vec<String> = records
            .iter()
            .filter(|(_, (r, _))| which(r))
            .map(|(id, _)| id.clone())
            .collect();
        let removed: Vec<T> = ids
            .iter()
            .filter_map(|id| records.remove(id).map(|(r, _)| r))
            .collect();
        Box::pin(async move { Ok(removed) })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn rejects_new_records_when_full_of_live_ones_and_drops_none() {
        let store = MemoryRecords::<u32>::new(10, 3);
        store.put("a".into(), 1, 100).await.unwrap();
        assert_eq!(store.get("a", 109).await.unwrap(), Some(1));
        assert_eq!(store.get("a", 110).await.unwrap(), None, "expired");
        for (i, id) in ["b", "c", "d"].into_iter().enumerate() {
            store.put(id.into(), i as u32, 200).await.unwrap();
        }
        // "a" was swept as expired when the store filled; three live records fill it again:
        // one more is refused, and no live record is dropped for it.
        assert!(store.put("e".into(), 9, 200).await.is_err());
        assert_eq!(store.records().len(), 3);
        assert_eq!(store.get("b", 200).await.unwrap(), Some(0));
        store.remove("b").await.unwrap();
        store.put("e".into(), 9, 200).await.unwrap();
        assert_eq!(store.get("e", 200).await.unwrap(), Some(9));
        store.remove("e").await.unwrap();
        assert_eq!(store.get("e", 200).await.unwrap(), None);
    }

    #[tokio::test]
    async fn removes_exactly_the_records_picked() {
        let store = MemoryRecords::<u32>::new(10, 10);
        for (id, v) in [("a", 1), ("b", 2), ("c", 1)] {
            store.put(id.into(), v, 0).await.unwrap();
        }
        assert_eq!(store.remove_where(&|v| *v == 1).await.unwrap(), [1, 1]);
        assert_eq!(store.get("a", 0).await.unwrap(), None);
        assert_eq!(store.get("b", 0).await.unwrap(), Some(2));
    }
}
