//! Where the web page keeps its records: started sign-ins (flows) and signed-in browsers
//! (sessions), in the database every instance shares ([`sipauth_provision::SharedRecords`]), so
//! a sign-in started at one instance finishes at another, any instance serves a signed-in
//! browser, and a restart signs nobody out. [`Sealed`] is a typed view over one kind: a
//! record's id is stored as its SHA-256 (the cookie's value is never in the database), its
//! contents sealed under the key every instance derives from the shared server secret
//! (tokens and SIP passwords unreadable at rest, a changed byte an unknown record), its person
//! and provider session as SHA-256 tags so a provider's logout ends them without reading any.
//! Expired records are never answered and are swept by the service's sweeper.

use std::marker::PhantomData;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use sipauth::SealingKey;
use sipauth_provision::{Inserted, NewRecord, SharedRecords};

/// A store failed (its database, or it is full of live records); the page answers 503.
#[derive(Debug, thiserror::Error)]
#[error("the web page's store failed: {0}")]
pub(crate) struct StoreError(pub String);

impl From<sipauth_provision::ProvisionError> for StoreError {
    fn from(e: sipauth_provision::ProvisionError) -> Self {
        Self(e.to_string())
    }
}

/// A record's person and provider session, as the provider names them.
#[derive(Debug, Default)]
pub(crate) struct Tags {
    /// The issuer and subject of the person.
    pub person: Option<(String, String)>,
    /// The issuer and the provider's session id (`sid`).
    pub sid: Option<(String, String)>,
}

/// A record kept sealed: its stored form.
pub(crate) trait Record: Sized {
    /// Its bytes to seal (an identity inside is sealed under `key` too).
    fn encode(&self, key: &SealingKey) -> Option<Vec<u8>>;
    /// The record from its bytes; `None` when they are not one.
    fn decode(bytes: &[u8], key: &SealingKey) -> Option<Self>;
    /// Its tags.
    fn tags(&self) -> Tags {
        Tags::default()
    }
}

/// The records of one kind, each living `ttl` seconds, at most `max` live at once (past it a
/// new record is refused and the page answers 503: never a live record dropped to make room).
pub(crate) struct Sealed<T> {
    records: SharedRecords,
    key: Arc<SealingKey>,
    kind: &'static str,
    ttl: i64,
    max: i64,
    _record: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Sealed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("kind", &self.kind)
            .field("ttl", &self.ttl)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

/// The hex SHA-256 of `parts` joined by newlines.
pub(crate) fn digest(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hash.update(b"\n");
        }
        hash.update(part.as_bytes());
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl<T: Record> Sealed<T> {
    pub(crate) fn new(
        records: SharedRecords,
        key: Arc<SealingKey>,
        kind: &'static str,
        ttl: i64,
        max: i64,
    ) -> Self {
        Self {
            records,
            key,
            kind,
            ttl,
            max,
            _record: PhantomData,
        }
    }

    fn open(&self, sealed: &str) -> Option<T> {
        let bytes = self.key.open(self.kind, sealed)?;
        T::decode(&bytes, &self.key)
    }

    /// Keeps `record` under `id` from `now` for the kind's lifetime.
    pub(crate) async fn put(&self, id: &str, record: &T, now: i64) -> Result<(), StoreError> {
        let bytes = record
            .encode(&self.key)
            .ok_or_else(|| StoreError("a record could not be encoded".into()))?;
        let data = self
            .key
            .seal(self.kind, &bytes)
            .map_err(|e| StoreError(e.to_string()))?;
        let tags = record.tags();
        let person = tags.person.map(|(i, s)| digest(&[&i, &s]));
        let sid = tags.sid.map(|(i, s)| digest(&[&i, &s]));
        let inserted = self
            .records
            .insert(
                NewRecord {
                    kind: self.kind,
                    id: &digest(&[id]),
                    data: &data,
                    expires_at: now.saturating_add(self.ttl),
                    person: person.as_deref(),
                    sid: sid.as_deref(),
                },
                self.max,
                now,
            )
            .await?;
        match inserted {
            Inserted::Kept => Ok(()),
            Inserted::Exists => Err(StoreError("a live record has that id".into())),
            Inserted::Full => Err(StoreError(format!(
                "{} live {} records, the most kept",
                self.max, self.kind
            ))),
        }
    }

    /// The record under `id`, unless it expired by `now` (or is not one this key sealed).
    pub(crate) async fn get(&self, id: &str, now: i64) -> Result<Option<T>, StoreError> {
        let found = self.records.get(self.kind, &digest(&[id]), now).await?;
        Ok(found.and_then(|sealed| self.open(&sealed)))
    }

    /// Removes the record under `id` and gives it when it was live: of two instances taking
    /// it, one has it.
    pub(crate) async fn take(&self, id: &str, now: i64) -> Result<Option<T>, StoreError> {
        let found = self.records.take(self.kind, &digest(&[id]), now).await?;
        Ok(found.and_then(|sealed| self.open(&sealed)))
    }

    /// Forgets the record under `id`.
    pub(crate) async fn remove(&self, id: &str) -> Result<(), StoreError> {
        Ok(self.records.remove(self.kind, &digest(&[id])).await?)
    }

    /// Forgets every record of (issuer, subject), or of the provider session (issuer, sid):
    /// the records forgotten.
    pub(crate) async fn remove_tagged(
        &self,
        issuer: &str,
        subject: Option<&str>,
        sid: Option<&str>,
    ) -> Result<Vec<T>, StoreError> {
        let person = subject.map(|s| digest(&[issuer, s]));
        let sid = sid.map(|s| digest(&[issuer, s]));
        let removed = self
            .records
            .remove_tagged(self.kind, person.as_deref(), sid.as_deref())
            .await?;
        Ok(removed.iter().filter_map(|s| self.open(s)).collect())
    }
}
