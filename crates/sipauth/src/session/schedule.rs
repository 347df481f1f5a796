//! The auto-refresh schedule: when the next refresh runs ([`crate::oidc::TokenSet::refresh_due_at`]'s rule,
//! at least a second away, at most a day), and the one timer that runs it, sleeping by the
//! session's clock on the runtime the caller runs in.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{Inner, Session};

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

    pub(super) fn schedule_refresh(&self) {
        self.cancel_refresh();
        if !self.0.options.auto_refresh {
            return;
        }
        let Some(at) = self.next_refresh_at() else {
            return;
        };
        let delay = Duration::from_secs(u64::try_from(at - self.now()).unwrap_or(1));
        let weak: Weak<Inner> = Arc::downgrade(&self.0);
        let sleep = self.0.client.clock().sleep(delay);
        let handle = crate::runtime::spawn(async move {
            sleep.await;
            if let Some(inner) = weak.upgrade() {
                let session = Session(inner);
                if let Err(e) = session.refresh_inner(false).await {
                    tracing::warn!(error = %e, "automatic refresh failed");
                }
            }
        });
        if handle.is_none() {
            tracing::warn!(
                "no async runtime to run the refresh timer on; tokens are refreshed on demand only"
            );
        }
        *self.0.timer.lock().unwrap_or_else(|p| p.into_inner()) = handle;
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
