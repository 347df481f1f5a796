//! The persisted session record: what is written to the store after every change of tokens or
//! credentials, and read back at start-up. A record that does not parse, or that an unknown
//! version wrote, is refused (`unreadable_session`) and set aside, never guessed at. A record is
//! bound to the provider and client that signed it in (issuer, else token endpoint; client id):
//! one read by a session configured for another is refused (`session_mismatch`) and left alone,
//! so a refresh token is never sent to another provider's token endpoint.

use serde::{Deserialize, Serialize};

use super::{AuthState, Session, SessionSnapshot};
use crate::error::{Error, SessionFailure, StorageError};
use crate::oidc::{TokenSet, UserInfo};
use crate::ProvisionedCredentials;

/// The version of the persisted record this library writes and reads.
const RECORD_VERSION: u32 = 1;

/// What is persisted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StoredSession {
    pub(super) version: u32,
    pub(super) tokens: TokenSet,
    pub(super) user_info: UserInfo,
    pub(super) sip_credentials: Option<ProvisionedCredentials>,
    pub(super) saved_at: i64,
    /// The provider (issuer, else token endpoint) and client id that signed in. Absent in
    /// records written before the binding existed: those are bound at their next save.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) bound_to: Option<Binding>,
}

/// Who a stored session belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Binding {
    pub(super) provider: String,
    pub(super) client_id: String,
}

impl StoredSession {
    /// Puts this record's tokens, user and credentials into a snapshot (a new generation).
    pub(super) fn apply(&self, s: &mut SessionSnapshot, state: AuthState) {
        s.token_expires_at = self.tokens.expires_at;
        s.tokens = Some(self.tokens.clone());
        s.user_info = Some(self.user_info.clone());
        s.sip_credentials = self.sip_credentials.clone();
        s.error = None;
        s.generation += 1;
        s.state = state;
    }
}

impl Session {
    /// The provider and client this session is configured for.
    fn binding(&self) -> Binding {
        let provider = self.0.client.provider();
        Binding {
            provider: provider
                .issuer
                .clone()
                .unwrap_or_else(|| provider.token_endpoint.to_string()),
            client_id: provider.client_id.clone(),
        }
    }

    pub(super) fn persist(
        &self,
        tokens: &TokenSet,
        user_info: &UserInfo,
        credentials: Option<&ProvisionedCredentials>,
    ) -> Result<(), Error> {
        let record = StoredSession {
            version: RECORD_VERSION,
            tokens: tokens.clone(),
            user_info: user_info.clone(),
            sip_credentials: credentials.cloned(),
            saved_at: self.now(),
            bound_to: Some(self.binding()),
        };
        let json =
            serde_json::to_string(&record).map_err(|e| StorageError::new("encode session", e))?;
        Ok(self.0.options.store.save(&self.session_key(), &json)?)
    }

    /// The stored session. A record that does not parse, or that an unknown version wrote, is
    /// refused (`unreadable_session`) and set aside in the store, never silently read as absent
    /// nor guessed at.
    pub(super) fn load_stored(&self) -> Result<Option<StoredSession>, Error> {
        let key = self.session_key();
        let Some(json) = self.0.options.store.load(&key)? else {
            return Ok(None);
        };
        let reason = match serde_json::from_str::<serde_json::Value>(&json) {
            Err(e) => format!("not JSON: {e}"),
            Ok(value) => match value.get("version").and_then(serde_json::Value::as_u64) {
                Some(v) if v == u64::from(RECORD_VERSION) => {
                    match serde_json::from_value::<StoredSession>(value) {
                        Ok(record) => {
                            let ours = self.binding();
                            return match &record.bound_to {
                                Some(bound) if *bound != ours => {
                                    Err(SessionFailure::SessionMismatch {
                                        provider: bound.provider.clone(),
                                        client_id: bound.client_id.clone(),
                                    }
                                    .into())
                                }
                                _ => Ok(Some(record)),
                            };
                        }
                        Err(e) => format!("not a session record: {e}"),
                    }
                }
                Some(v) => {
                    format!("record version {v}, and this sipauth reads version {RECORD_VERSION}")
                }
                None => "no record version".to_string(),
            },
        };
        let moved_to = self.0.options.store.set_aside(&key)?;
        tracing::warn!(%reason, moved_to = moved_to.as_deref().unwrap_or(""), "the stored session is unreadable");
        Err(SessionFailure::UnreadableRecord { reason, moved_to }.into())
    }
}
