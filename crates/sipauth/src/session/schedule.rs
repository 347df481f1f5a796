//! The automatic schedule: when the next token refresh runs
//! ([`crate::oidc::TokenSet::refresh_due_at`]'s rule), when the SIP credentials are provisioned
//! again before their `expiresAt` (a credential lease, auth_ephemeral credentials: the guide's
//! "re-provision credentials every 4 hours", done by the library), and the one timer that runs
//! the earliest, at least a second away and at most a day, sleeping by the session's clock on
//! the runtime the caller runs in.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{Inner, Session};

/// After a failed automatic re-provision, the next attempt this many seconds later.
const REPROVISION_RETRY_SECS: i64 = 30;

impl Session {
    /// When the next automatic refresh runs (Unix seconds), if one is due: the moment
    /// [`crate::oidc::TokenSet::refresh_due_at`] names, at least a second from now, at most a day (then the
    /// schedule is simply re-evaluated).
    pub fn next_refresh_at(&self) -> Option<i64> {
        let snapshot = self.0.snapshot.borrow();
        let tokens = snapshot.tokens.as_ref()?;
        tokens.refresh_token.as_ref()?;
        let due = tokens.refresh_due_at(self.0.options.refresh_threshold)?;
        let now = self.now();
        Some(due.clamp(now + 1, now + 86_400))
    }

    /// When the SIP credentials are provisioned again (Unix seconds), if they expire: before
    /// their `expiresAt` by the refresh threshold or half of what is left, whichever is less;
    /// at least a second from now (and, after a failed attempt, not before the retry), at most
    /// a day.
    pub fn next_reprovision_at(&self) -> Option<i64> {
        let due = self.reprovision_due_at()?;
        let now = self.now();
        let not_before = *self
            .0
            .reprovision_not_before
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Some(due.max(not_before).clamp(now + 1, now + 86_400))
    }

    /// The moment re-provisioning is due, unclamped.
    fn reprovision_due_at(&self) -> Option<i64> {
        let snapshot = self.0.snapshot.borrow();
        snapshot.tokens.as_ref()?;
        let credentials = snapshot.sip_credentials.as_ref()?;
        let expires = credentials.expires_at?;
        let since = credentials.provisioned_at.unwrap_or_else(|| self.now());
        let threshold = crate::clock::secs(self.0.options.refresh_threshold);
        let margin = threshold.min((expires - since).max(0) / 2);
        Some(expires - margin)
    }

    /// True when the credentials are expired or due for re-provisioning at `now`.
    pub(super) fn credentials_due(&self, now: i64) -> bool {
        self.reprovision_due_at().is_some_and(|due| due <= now)
    }

    pub(super) fn schedule_refresh(&self) {
        self.cancel_refresh();
        if !self.0.options.auto_refresh {
            return;
        }
        let at = match (self.next_refresh_at(), self.next_reprovision_at()) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(at) => at,
                None => return,
            },
        };
        let delay = Duration::from_secs(u64::try_from(at - self.now()).unwrap_or(1));
        let weak: Weak<Inner> = Arc::downgrade(&self.0);
        let sleep = self.0.client.clock().sleep(delay);
        let handle = crate::runtime::spawn(async move {
            sleep.await;
            if let Some(inner) = weak.upgrade() {
                Session(inner).on_timer().await;
            }
        });
        if handle.is_none() {
            tracing::warn!(
                "no async runtime to run the refresh timer on; tokens are refreshed on demand only"
            );
        }
        *self.0.timer.lock().unwrap_or_else(|p| p.into_inner()) = handle;
    }

    /// What the timer does: refresh the tokens when due (which provisions again), else
    /// provision the credentials again when due; then the next timer.
    async fn on_timer(&self) {
        let now = self.now();
        let tokens_due = self
            .snapshot()
            .tokens
            .is_some_and(|t| t.refresh_token.is_some() && self.needs_refresh(&t, now));
        if tokens_due {
            // It schedules the next timer itself.
            if let Err(e) = self.refresh_inner(false).await {
                tracing::warn!(error = %e, "automatic refresh failed");
            }
            return;
        }
        if self.credentials_due(now) {
            let before = self.sip_credentials().and_then(|c| c.expires_at);
            match self.reprovision_credentials().await {
                // Nothing gained (credentials that expire with a token that cannot be
                // refreshed): not again until they expire, then only now and then.
                Ok(c) if c.expires_at <= before => {
                    *self
                        .0
                        .reprovision_not_before
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = c
                        .expires_at
                        .unwrap_or(now)
                        .max(now + REPROVISION_RETRY_SECS);
                }
                Ok(_) => {}
                Err(e) => {
                    // Not again at once: a refusal (a disabled account) would spin.
                    tracing::warn!(error = %e, "re-provisioning before the credentials expire failed");
                    *self
                        .0
                        .reprovision_not_before
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = now + REPROVISION_RETRY_SECS;
                }
            }
        }
        self.schedule_refresh();
    }

    pub(super) fn cancel_refresh(&self) {
        if let Some(timer) = self
            .0
            .timer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            timer.abort();
        }
    }
}
