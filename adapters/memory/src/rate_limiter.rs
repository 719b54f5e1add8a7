//! The embedded default's rate limiter: a token bucket per key, refilled continuously at
//! `per_minute / 60` per second, holding at most one minute's worth.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use microdash_domain::Timestamp;
use microdash_usecases::ports::{Admission, ClockRef, RateLimitError, RateLimiter};

struct Bucket {
    tokens: f64,
    updated: Timestamp,
}

/// Token buckets in memory, per key.
pub struct MemoryRateLimiter {
    clock: ClockRef,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl MemoryRateLimiter {
    /// A limiter reading time from `clock`.
    pub fn new(clock: ClockRef) -> Self {
        Self { clock, buckets: Mutex::new(HashMap::new()) }
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn acquire(&self, key: &str, cost: u64, per_minute: u64) -> Result<Admission, RateLimitError> {
        if cost > per_minute {
            return Ok(Admission::Denied { retry_after: Duration::from_secs(60) });
        }
        let per_ms = per_minute as f64 / 60_000.0;
        let mut buckets = self.buckets.lock().expect("rate limiter mutex poisoned");
        let bucket = self.refilled(&mut buckets, key, per_minute);
        let cost = cost as f64;
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            Ok(Admission::Granted)
        } else {
            let wait_ms = ((cost - bucket.tokens) / per_ms).ceil().max(1.0);
            Ok(Admission::Denied { retry_after: Duration::from_millis(wait_ms as u64) })
        }
    }

    async fn refund(&self, key: &str, cost: u64, per_minute: u64) -> Result<(), RateLimitError> {
        let mut buckets = self.buckets.lock().expect("rate limiter mutex poisoned");
        let bucket = self.refilled(&mut buckets, key, per_minute);
        bucket.tokens = (bucket.tokens + cost as f64).min(per_minute as f64);
        Ok(())
    }
}

impl MemoryRateLimiter {
    /// `key`'s bucket, refilled up to now (a new key starts full).
    fn refilled<'a>(
        &self,
        buckets: &'a mut HashMap<String, Bucket>,
        key: &str,
        per_minute: u64,
    ) -> &'a mut Bucket {
        let now = self.clock.now();
        let capacity = per_minute as f64;
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket { tokens: capacity, updated: now });
        let elapsed = (now.as_millis() - bucket.updated.as_millis()).max(0) as f64;
        bucket.tokens = (bucket.tokens + elapsed * capacity / 60_000.0).min(capacity);
        bucket.updated = now;
        bucket
    }
}
