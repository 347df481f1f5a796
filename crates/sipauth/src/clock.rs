//! Time as a parameter. Everything that decides by the clock (pending sign-in expiry, ID-token
//! `exp`/`iat`, JWKS refetch rate limits, token refresh) reads a [`Clock`], and everything that
//! waits (the auto-refresh timer, device-grant polling, refresh retries) sleeps through it, so
//! tests move time with [`ManualClock`] instead of waiting.

use std::sync::Arc;
use std::time::Duration;

use crate::http::BoxFuture;

/// Whole seconds of a duration as a signed count, saturating (time arithmetic is in i64 seconds).
pub(crate) fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The monotonic clock, for measuring how long something took or when a network deadline
/// passes (never for wall-clock decisions, which read a [`Clock`]). The one place outside
/// tests that reads `Instant::now` (clippy.toml disallows it elsewhere). Native only: the
/// browser has no `Instant`.
#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::disallowed_methods)]
pub fn monotonic_now() -> std::time::Instant {
    std::time::Instant::now()
}

/// A source of the current time, as whole seconds since the Unix epoch, and of waiting.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Seconds since 1970-01-01T00:00:00Z.
    fn now_unix(&self) -> i64;

    /// Waits `duration` by this clock.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        // In the browser `SystemTime` is not available: the JavaScript clock is.
        #[cfg(all(feature = "web", target_arch = "wasm32"))]
        {
            (js_sys::Date::now() / 1000.0) as i64
        }
        #[cfg(not(all(feature = "web", target_arch = "wasm32")))]
        #[allow(clippy::disallowed_methods)]
        // the one wall-clock read; everything else asks a Clock
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(elapsed) => secs(elapsed),
            // A clock set before 1970 is broken; treat it as the epoch.
            Err(_) => 0,
        }
    }

    /// The runtime's timer (tokio's with the `native` feature). Without one there is nothing to
    /// wait with: the future never completes (give the session a clock that has a timer).
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        #[cfg(feature = "native")]
        {
            Box::pin(tokio::time::sleep(duration))
        }
        // The browser's timer (setTimeout); its future stays on the one browser thread.
        #[cfg(all(not(feature = "native"), feature = "web", target_arch = "wasm32"))]
        {
            Box::pin(send_wrapper::SendWrapper::new(gloo_timers::future::sleep(
                duration,
            )))
        }
        #[cfg(all(
            not(feature = "native"),
            not(all(feature = "web", target_arch = "wasm32"))
        ))]
        {
            let _ = duration;
            Box::pin(std::future::pending())
        }
    }
}

/// A clock that only moves when told to: for tests and simulations. Its sleeps end when the
/// clock is moved past their deadline (a sleep shorter than a second ends at once).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<tokio::sync::watch::Sender<i64>>);

impl ManualClock {
    /// A clock showing `unix` seconds.
    pub fn new(unix: i64) -> Self {
        Self(Arc::new(tokio::sync::watch::Sender::new(unix)))
    }

    /// A clock starting at the system's current time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now_unix())
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.0.send_modify(|t| *t = t.saturating_add(secs(by)));
    }

    /// Sets the clock.
    pub fn set(&self, unix: i64) {
        self.0.send_replace(unix);
    }
}

impl Clock for ManualClock {
    fn now_unix(&self) -> i64 {
        *self.0.borrow()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let deadline = self.now_unix().saturating_add(secs(duration));
        let mut time = self.0.subscribe();
        Box::pin(async move {
            // The sender lives as long as any clone of the clock; if all are gone, so is time.
            let _ = time.wait_for(|now| *now >= deadline).await;
        })
    }
}

/// The shared clock handle the library passes around.
pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.now_unix(), 1_000);
        clock.advance(Duration::from_secs(61));
        assert_eq!(clock.now_unix(), 1_061);
        clock.set(5);
        assert_eq!(clock.now_unix(), 5);
    }

    #[tokio::test]
    async fn manual_sleeps_end_when_the_clock_passes_their_deadline() {
        let clock = ManualClock::new(1_000);
        let sleep = tokio::spawn(clock.sleep(Duration::from_secs(30)));
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(29));
        tokio::task::yield_now().await;
        assert!(!sleep.is_finished());
        clock.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(5), sleep)
            .await
            .unwrap()
            .unwrap();
        // Under a second: at once.
        clock.sleep(Duration::from_millis(500)).await;
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_unix() > 1_577_836_800);
    }
}
