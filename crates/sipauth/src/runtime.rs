//! Background work: the one place the library spawns (the auto-refresh timer, the inactivity
//! monitor). With the `native` feature, on the tokio runtime the caller runs in; without a
//! runtime (or without `native`) nothing is spawned and the caller is told so, so nothing
//! silently stops: the session then refreshes on demand only. Waiting itself goes through the
//! [`Clock`](crate::Clock).

use std::future::Future;

/// A running background task; dropping the handle does not stop it, [`abort`](Self::abort) does.
#[derive(Debug)]
pub struct BackgroundTask {
    #[cfg(feature = "native")]
    handle: tokio::task::JoinHandle<()>,
}

impl BackgroundTask {
    /// Stops the task.
    pub fn abort(&self) {
        #[cfg(feature = "native")]
        self.handle.abort();
    }

    /// True once the task ended (or was aborted).
    pub fn is_finished(&self) -> bool {
        #[cfg(feature = "native")]
        {
            self.handle.is_finished()
        }
        #[cfg(not(feature = "native"))]
        {
            true
        }
    }
}

/// Spawns `work` on the current runtime; `None` when there is none.
pub(crate) fn spawn(work: impl Future<Output = ()> + Send + 'static) -> Option<BackgroundTask> {
    #[cfg(feature = "native")]
    {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(BackgroundTask {
            handle: runtime.spawn(work),
        })
    }
    #[cfg(not(feature = "native"))]
    {
        drop(work);
        None
    }
}
