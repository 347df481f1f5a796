//! Background work: the one place the library spawns (the auto-refresh timer, the inactivity
//! monitor). With the `native` feature, on the tokio runtime the caller runs in; in the browser
//! (`web` on wasm32), on the page's event loop (`spawn_local`), stopped by an abort handle;
//! elsewhere nothing is spawned and the caller is told so, so nothing silently stops: the
//! session then refreshes on demand only. Waiting itself goes through the
//! [`Clock`](crate::Clock).

use std::future::Future;

/// A running background task; dropping the handle does not stop it, [`abort`](Self::abort) does.
#[derive(Debug)]
pub struct BackgroundTask {
    #[cfg(feature = "native")]
    handle: tokio::task::JoinHandle<()>,
    #[cfg(all(not(feature = "native"), feature = "web", target_arch = "wasm32"))]
    handle: futures_util::future::AbortHandle,
    #[cfg(all(not(feature = "native"), feature = "web", target_arch = "wasm32"))]
    finished: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl BackgroundTask {
    /// Stops the task.
    pub fn abort(&self) {
        #[cfg(any(feature = "native", all(feature = "web", target_arch = "wasm32")))]
        self.handle.abort();
    }

    /// True once the task ended (or was aborted).
    pub fn is_finished(&self) -> bool {
        #[cfg(feature = "native")]
        {
            self.handle.is_finished()
        }
        #[cfg(all(not(feature = "native"), feature = "web", target_arch = "wasm32"))]
        {
            self.handle.is_aborted() || self.finished.load(std::sync::atomic::Ordering::Acquire)
        }
        #[cfg(all(
            not(feature = "native"),
            not(all(feature = "web", target_arch = "wasm32"))
        ))]
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
    #[cfg(all(not(feature = "native"), feature = "web", target_arch = "wasm32"))]
    {
        let (handle, registration) = futures_util::future::AbortHandle::new_pair();
        let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = finished.clone();
        let work = futures_util::future::Abortable::new(work, registration);
        wasm_bindgen_futures::spawn_local(async move {
            let _ = work.await;
            done.store(true, std::sync::atomic::Ordering::Release);
        });
        Some(BackgroundTask { handle, finished })
    }
    #[cfg(all(
        not(feature = "native"),
        not(all(feature = "web", target_arch = "wasm32"))
    ))]
    {
        drop(work);
        None
    }
}
