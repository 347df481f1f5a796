//! Refresh coordination: one refresh at a time in a process (an async gate with a double check)
//! and across processes sharing a store (its lock, then a re-read: a rotated refresh token is
//! never spent twice), retries of transient failures on the session's clock, and what a final
//! failure means (a refused grant ends the session; a provider that is down does not).

use super::{AuthState, LogoutReason, Session, SessionEvent};
use crate::error::{Error, SessionFailure};
use crate::oidc::{SignIn, TokenSet};

impl Session {
    pub(super) async fn refresh_inner(&self, force: bool) -> Result<TokenSet, Error> {
        let generation_before = self.0.snapshot.borrow().generation;
        let _gate = self.0.refresh_gate.lock().await;
        let snapshot = self.snapshot();
        let mut tokens = snapshot
            .tokens
            .clone()
            .ok_or(SessionFailure::NotAuthenticated)?;
        // Another caller refreshed while we waited: share its result.
        if snapshot.generation != generation_before
            || (!force && !self.needs_refresh(&tokens, self.now()))
        {
            return Ok(tokens);
        }

        // Other processes sharing the store: take its lock, then re-read it.
        let _lock = self.0.options.store.lock(&self.session_key()).await?;
        if let Some(stored) = self.load_stored()? {
            // Another process refreshed (a rotated refresh token, or at least a new access token).
            if stored.tokens.refresh_token != tokens.refresh_token
                || stored.tokens.access_token.secret() != tokens.access_token.secret()
            {
                tracing::debug!("another process refreshed; adopting its tokens");
                tokens = stored.tokens.clone();
                self.update(|s| {
                    let (credentials, state) = (s.sip_credentials.take(), s.state);
                    stored.apply(s, state);
                    if s.sip_credentials.is_none() {
                        s.sip_credentials = credentials;
                    }
                });
                if !self.needs_refresh(&tokens, self.now()) {
                    self.schedule_refresh();
                    return Ok(tokens);
                }
            }
        }
        let refresh_token = tokens
            .refresh_token
            .clone()
            .ok_or(SessionFailure::NoRefreshToken)?;

        let previous = snapshot.state;
        self.update(|s| {
            s.is_refreshing = true;
            s.state = AuthState::Refreshing;
        });
        let mut refreshed = match self.refresh_with_retry(&refresh_token).await {
            Ok(t) => t,
            Err(e) => {
                self.refresh_failed(&e);
                return Err(match refusal(&e) {
                    Some(refused) => refused.into(),
                    None => e,
                });
            }
        };
        // A refresh without a new ID token keeps the last one (id_token_hint, the id_token
        // password strategy), with its expiry.
        if refreshed.id_token.is_none() {
            refreshed.id_token = tokens.id_token.clone();
            refreshed.id_token_expires_at = tokens.id_token_expires_at;
        }
        let user_info = snapshot.user_info.clone().unwrap_or_default();
        // The rotated refresh token is on disk before the new access token is handed out.
        self.persist(&refreshed, &user_info, snapshot.sip_credentials.as_ref())?;
        // Token-derived passwords change with the tokens: provision again.
        let sign_in = SignIn::restored(refreshed.clone(), user_info.clone());
        let credentials = match self.provision(&sign_in).await {
            Ok(c) => {
                self.persist(&refreshed, &user_info, Some(&c))?;
                Some(c)
            }
            Err(e) if e.error_code() == Some(crate::ErrorCode::SignedOut) => {
                self.signed_out_if(&e)?;
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(error = %e, "re-provisioning after a refresh failed; keeping the old credentials");
                snapshot.sip_credentials.clone()
            }
        };
        let changed = credentials.as_ref().map(|c| &c.password)
            != snapshot.sip_credentials.as_ref().map(|c| &c.password);
        self.update(|s| {
            s.token_expires_at = refreshed.expires_at;
            s.tokens = Some(refreshed.clone());
            s.sip_credentials = credentials.clone();
            s.generation += 1;
            s.is_refreshing = false;
            s.state = match previous {
                AuthState::Refreshing | AuthState::Error | AuthState::Idle => {
                    AuthState::Authenticated
                }
                other => other,
            };
        });
        self.emit(SessionEvent::TokensRefreshed {
            expires_at: refreshed.expires_at,
        });
        if let (true, Some(c)) = (changed, credentials) {
            self.emit(SessionEvent::CredentialsProvisioned(Box::new(c)));
        }
        self.schedule_refresh();
        Ok(refreshed)
    }

    async fn refresh_with_retry(
        &self,
        refresh_token: &crate::secret::RefreshToken,
    ) -> Result<TokenSet, Error> {
        let policy = self.0.options.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.0.client.refresh(refresh_token).await {
                Ok(tokens) => return Ok(tokens),
                Err(e) if attempt < policy.attempts && is_transient(&e) => {
                    let wait = policy.base_delay.saturating_mul(1 << (attempt - 1).min(10));
                    tracing::warn!(error = %e, attempt, "token refresh failed; retrying");
                    self.0.client.clock().sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A refresh that finally failed: visible error, logout event; a refused grant is dropped.
    fn refresh_failed(&self, error: &Error) {
        self.cancel_refresh();
        let expired = self
            .0
            .snapshot
            .borrow()
            .tokens
            .as_ref()
            .is_some_and(|t| t.is_expired_at(self.now()));
        let refused = refusal(error).is_some();
        if refused {
            if let Err(e) = self.0.options.store.remove(&self.session_key()) {
                tracing::warn!(error = %e, "cannot remove the refused session from storage");
            }
            self.update(|s| {
                s.tokens = None;
                s.token_expires_at = None;
                s.user_info = None;
                s.sip_credentials = None;
                s.generation += 1;
            });
        }
        self.fail(error);
        let reason = if expired {
            LogoutReason::TokenExpired
        } else {
            LogoutReason::RefreshFailed
        };
        self.emit(SessionEvent::Logout(reason));
    }
}

/// A refresh the provider refused for good (the grant is dead): its OAuth2 error, or a
/// 400/401 answer without one (some providers answer a dead refresh token with an empty 400).
pub(super) fn refusal(e: &Error) -> Option<SessionFailure> {
    match e {
        Error::Provider(p) if p.endpoint == crate::error::Endpoint::Token => {
            Some(SessionFailure::RefreshRefused {
                code: p.error.clone(),
                description: p.description.clone().unwrap_or_default(),
            })
        }
        Error::Response(r)
            if r.endpoint == crate::error::Endpoint::Token && matches!(r.status, 400 | 401) =>
        {
            Some(SessionFailure::RefreshRefused {
                code: e.code().to_string(),
                description: format!("HTTP {} without an OAuth2 error body", r.status),
            })
        }
        _ => None,
    }
}

pub(super) fn is_transient(e: &Error) -> bool {
    match e {
        Error::Transport(_) => true,
        Error::Response(r) => r.status >= 500,
        _ => false,
    }
}
