//! Time as a parameter. Everything that decides by the clock (pending sign-in expiry, ID-token
//! `exp`/`iat`, JWKS refetch rate limits, later token refresh) reads a [`Clock`], so tests move time
//! with [`ManualClock`] instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Whole seconds of a duration as a signed count, saturating (time arithmetic is in i64 seconds).
pub(crate) fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// A source of the current time, as whole seconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Seconds since 1970-01-01T00:00:00Z.
    fn now_unix(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(elapsed) => secs(elapsed),
            // A clock set before 1970 is broken; treat it as the epoch.
            Err(_) => 0,
        }
    }
}

/// A clock that only moves when told to: for tests and simulations.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock showing `unix` seconds.
    pub fn new(unix: i64) -> Self {
        Self(Arc::new(AtomicI64::new(unix)))
    }

    /// A clock starting at the system's current time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now_unix())
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(secs(by), Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, unix: i64) {
        self.0.store(unix, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
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

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_unix() > 1_577_836_800);
    }
}
