//! The rate limiter every api node shares: a token bucket per key in Redis, updated by one Lua
//! script so that concurrent nodes cannot both spend the same tokens, on Redis's clock so that
//! nodes whose clocks drift still agree. Same semantics as `MemoryRateLimiter`: capacity is one
//! minute's budget, refilled continuously.

use std::time::Duration;

use async_trait::async_trait;
use microdash_usecases::ports::{Admission, HealthCheck, HealthError, RateLimitError, RateLimiter};
use redis::aio::ConnectionManager;

use crate::options::{ConnectError, RedisOptions};

/// KEYS[1] = bucket; ARGV = cost, per_minute, ttl_ms. Returns {granted (0/1), wait_ms}.
/// An idle bucket expires once it would be full again anyway, so idle keys cost nothing.
const ACQUIRE_SCRIPT: &str = r"
local cost = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local per_ms = capacity / 60000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
tokens = math.min(capacity, tokens + math.max(0, now - at) * per_ms)
local granted = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  granted = 1
else
  wait = math.max(1, math.ceil((cost - tokens) / per_ms))
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {granted, wait}
";

/// KEYS[1] = bucket; ARGV = cost, per_minute, ttl_ms. Adds `cost` back, capped at capacity;
/// a bucket that is gone is full already.
const REFUND_SCRIPT: &str = r"
local capacity = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil or at == nil then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
tokens = math.min(capacity, tokens + math.max(0, now - at) * capacity / 60000 + tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

/// A bucket refills completely within a minute; keep it a little longer than that.
const BUCKET_TTL: Duration = Duration::from_secs(61);

/// Token buckets in Redis, shared by every instance using the same prefix.
pub struct RedisRateLimiter {
    options: RedisOptions,
    commands: ConnectionManager,
    script: redis::Script,
    refund_script: redis::Script,
}

impl RedisRateLimiter {
    /// Connects to Redis.
    ///
    /// # Errors
    /// [`ConnectError`] when the URL is invalid or Redis does not answer.
    pub async fn connect(options: RedisOptions) -> Result<Self, ConnectError> {
        let commands = options.manager(Duration::ZERO).await?;
        Ok(Self {
            options,
            commands,
            script: redis::Script::new(ACQUIRE_SCRIPT),
            refund_script: redis::Script::new(REFUND_SCRIPT),
        })
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn acquire(&self, key: &str, cost: u64, per_minute: u64) -> Result<Admission, RateLimitError> {
        if cost > per_minute {
            return Ok(Admission::Denied { retry_after: Duration::from_secs(60) });
        }
        let (granted, wait_ms): (u8, u64) = self
            .script
            .key(self.options.rate_limit_key(key))
            .arg(cost)
            .arg(per_minute)
            .arg(BUCKET_TTL.as_millis() as u64)
            .invoke_async(&mut self.commands.clone())
            .await
            .map_err(RateLimitError::unavailable)?;
        if granted == 1 {
            Ok(Admission::Granted)
        } else {
            Ok(Admission::Denied { retry_after: Duration::from_millis(wait_ms) })
        }
    }

    async fn refund(&self, key: &str, cost: u64, per_minute: u64) -> Result<(), RateLimitError> {
        let _: u8 = self
            .refund_script
            .key(self.options.rate_limit_key(key))
            .arg(cost)
            .arg(per_minute)
            .arg(BUCKET_TTL.as_millis() as u64)
            .invoke_async(&mut self.commands.clone())
            .await
            .map_err(RateLimitError::unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl HealthCheck for RedisRateLimiter {
    fn component(&self) -> &'static str {
        "rate_limiter"
    }

    async fn check(&self) -> Result<(), HealthError> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.commands.clone())
            .await
            .map(drop)
            .map_err(|e| HealthError::unavailable("Redis", e))
    }
}
