//! Per-key request rate: a token bucket per API key, in this process.
//!
//! Each key may burst `burst` requests, refilled at `per_minute / 60` a second. Beyond that the
//! answer is 429 with `Retry-After`. The bucket is per API server; the concurrent-task quota,
//! which matters for cost, is enforced in the store across servers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// The limiter's settings.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub per_minute: u32,
    pub burst: u32,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets keyed by API key id.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key`; `Err(seconds)` to wait when there is none.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), u64> {
        let rate = self.limit.per_minute as f64 / 60.0;
        let burst = self.limit.burst.max(1) as f64;
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        if buckets.len() > 100_000 {
            buckets.retain(|_, b| now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        Err(((1.0 - bucket.tokens) / rate.max(1e-9)).ceil().max(1.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let limiter = RateLimiter::new(RateLimit {
            per_minute: 60,
            burst: 3,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check("k", t0), Ok(()));
        }
        assert_eq!(limiter.check("k", t0), Err(1));
        assert_eq!(limiter.check("other", t0), Ok(()), "buckets are per key");
        assert_eq!(limiter.check("k", t0 + Duration::from_millis(1100)), Ok(()));
        assert!(
            limiter
                .check("k", t0 + Duration::from_millis(1200))
                .is_err()
        );
    }
}
