//! Rate limits: token buckets per client IP and per identity ([`RateLimits`], off unless
//! configured; over the limit is 429 with `Retry-After`), and the bucket the outbound budget
//! uses. A bucket holds a minute's worth of requests and refills evenly. The number of buckets
//! is bounded: full buckets are dropped first, so a flood of new addresses cannot grow memory.
//! Buckets live behind [`BucketStore`]; [`KeyedLimiter`] keeps them in this process, so a
//! configured rate is per instance (a shared store fits behind the same trait).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::error::ApiError;

/// The most buckets a limiter keeps.
pub(crate) const MAX_KEYS: usize = 100_000;

/// Requests allowed per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    per_minute: u32,
}

impl Rate {
    /// `n` requests per minute (at least 1).
    pub fn per_minute(n: u32) -> Self {
        Self {
            per_minute: n.max(1),
        }
    }
}

/// A token bucket: `capacity` at most, `per_second` refill.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket.
    pub(crate) fn full(capacity: f64) -> Self {
        Self {
            tokens: capacity,
            last: sipauth::monotonic_now(),
        }
    }

    /// Takes one token, or says in how many seconds one will be there.
    pub(crate) fn take(&mut self, capacity: f64, per_second: f64) -> Result<(), u64> {
        let now = sipauth::monotonic_now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * per_second).min(capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - self.tokens) / per_second).ceil().max(1.0) as u64)
        }
    }

    fn is_full(&self, capacity: f64, per_second: f64) -> bool {
        self.tokens + self.last.elapsed().as_secs_f64() * per_second >= capacity
    }
}

/// Where a limit keeps its buckets, by key.
pub(crate) trait BucketStore: Send + Sync + std::fmt::Debug {
    /// One request of `key`: allowed, or the seconds until it would be.
    fn check(&self, key: &str) -> Result<(), u64>;
}

/// Buckets by key, in this process.
#[derive(Debug)]
pub(crate) struct KeyedLimiter {
    capacity: f64,
    per_second: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl KeyedLimiter {
    /// A limiter allowing `rate`.
    pub(crate) fn new(rate: Rate) -> Self {
        let capacity = f64::from(rate.per_minute);
        Self::with_capacity(capacity, capacity / 60.0)
    }

    /// A limiter of buckets holding `capacity`, refilling `per_second`.
    pub(crate) fn with_capacity(capacity: f64, per_second: f64) -> Self {
        Self {
            capacity,
            per_second,
            buckets: Mutex::new(HashMap::new()),
        }
    }
}

impl BucketStore for KeyedLimiter {
    fn check(&self, key: &str) -> Result<(), u64> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            let (c, r) = (self.capacity, self.per_second);
            buckets.retain(|_, b| !b.is_full(c, r));
            if buckets.len() >= MAX_KEYS {
                buckets.clear();
            }
        }
        buckets
            .entry(key.to_string())
            .or_insert_with(|| Bucket::full(self.capacity))
            .take(self.capacity, self.per_second)
    }
}

/// The bucket of a client address: an IPv4 address, or an IPv6 address's /64 (one subscriber
/// line gets a whole /64 and can rotate through it at will).
pub(crate) fn ip_key(ip: Option<std::net::IpAddr>) -> String {
    match ip {
        None => "unknown".into(),
        Some(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Some(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// The service's limits.
#[derive(Debug, Default)]
pub struct RateLimits {
    per_ip: Option<Box<dyn BucketStore>>,
    per_identity: Option<Box<dyn BucketStore>>,
}

impl RateLimits {
    /// Limits per client IP and per identity; `None` is off.
    pub fn new(per_ip: Option<Rate>, per_identity: Option<Rate>) -> Self {
        Self {
            per_ip: per_ip.map(|r| Box::new(KeyedLimiter::new(r)) as Box<dyn BucketStore>),
            per_identity: per_identity
                .map(|r| Box::new(KeyedLimiter::new(r)) as Box<dyn BucketStore>),
        }
    }

    /// One request from `ip` (unknown addresses share one bucket; IPv6 clients by their /64).
    pub fn check_ip(&self, ip: Option<std::net::IpAddr>) -> Result<(), ApiError> {
        let Some(limiter) = &self.per_ip else {
            return Ok(());
        };
        limiter.check(&ip_key(ip)).map_err(ApiError::RateLimited)
    }

    /// One request of the identity (issuer, subject).
    pub fn check_identity(&self, issuer: &str, subject: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.per_identity else {
            return Ok(());
        };
        limiter
            .check(&format!("{issuer}\u{0}{subject}"))
            .map_err(ApiError::RateLimited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_requests_over_the_rate_with_a_retry_time() {
        let limiter = KeyedLimiter::new(Rate::per_minute(3));
        for _ in 0..3 {
            assert!(limiter.check("a").is_ok());
        }
        let wait = limiter.check("a").unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        assert!(limiter.check("b").is_ok(), "another key has its own bucket");
    }

    #[test]
    fn rejects_an_ipv6_client_rotating_through_its_64() {
        let limits = RateLimits::new(Some(Rate::per_minute(2)), None);
        let ip = |s: &str| Some(s.parse::<std::net::IpAddr>().unwrap());
        limits.check_ip(ip("2001:db8:1:2::1")).unwrap();
        limits.check_ip(ip("2001:db8:1:2:aaaa::9")).unwrap();
        assert!(limits.check_ip(ip("2001:db8:1:2:ffff:1:2:3")).is_err());
        // Another /64, and IPv4 addresses, have their own buckets.
        limits.check_ip(ip("2001:db8:1:3::1")).unwrap();
        limits.check_ip(ip("192.0.2.1")).unwrap();
        limits.check_ip(ip("192.0.2.2")).unwrap();
    }

    #[test]
    fn limits_are_off_unless_configured() {
        let off = RateLimits::default();
        for _ in 0..1000 {
            off.check_ip(None).unwrap();
            off.check_identity("i", "s").unwrap();
        }
    }
}
