//! [`InactivityMonitor`]: the guide's session-timeout pattern. It ends a signed-in session
//! (reason `session_timeout`) after a period without activity, by the session's clock.

use std::sync::Arc;
use std::time::Duration;

use super::{LogoutReason, Session};
use crate::clock::secs;

/// Ends a session after a period without activity (the guide's session-timeout pattern). Call
/// [`touch`](Self::touch) on user activity; [`check`](Self::check) decides by the session's
/// clock, and [`spawn`](Self::spawn) checks periodically.
#[derive(Debug)]
pub struct InactivityMonitor {
    session: Session,
    timeout: i64,
    last_activity: std::sync::atomic::AtomicI64,
}

impl InactivityMonitor {
    /// A monitor ending `session` after `timeout` without activity.
    pub fn new(session: Session, timeout: Duration) -> Arc<Self> {
        let now = session.now();
        Arc::new(Self {
            session,
            timeout: secs(timeout),
            last_activity: std::sync::atomic::AtomicI64::new(now),
        })
    }

    /// Records activity now.
    pub fn touch(&self) {
        self.last_activity
            .store(self.session.now(), std::sync::atomic::Ordering::SeqCst);
    }

    /// Ends the session (reason `session_timeout`) when it is signed in and idle too long.
    /// Returns true when it ended it.
    pub async fn check(&self) -> bool {
        let idle =
            self.session.now() - self.last_activity.load(std::sync::atomic::Ordering::SeqCst);
        if self.session.is_authenticated() && idle >= self.timeout {
            let _ = self.session.end(LogoutReason::SessionTimeout).await;
            return true;
        }
        false
    }

    /// Checks every `every` (by the session's clock) until the monitor is dropped by everyone
    /// else. `None` when there is no async runtime to run it on.
    pub fn spawn(self: &Arc<Self>, every: Duration) -> Option<crate::runtime::BackgroundTask> {
        let weak = Arc::downgrade(self);
        let clock = self.session.0.client.clock().clone();
        crate::runtime::spawn(async move {
            loop {
                clock.sleep(every).await;
                match weak.upgrade() {
                    Some(monitor) => {
                        monitor.check().await;
                    }
                    None => return,
                }
            }
        })
    }
}
