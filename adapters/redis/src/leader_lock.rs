//! The scheduler's leader lock on Redis: one key holding the leader's name with a TTL, taken
//! with `SET NX PX` semantics and renewed only by its holder (a Lua script, so check-and-renew
//! is atomic). A leader that dies stops renewing and the key expires.

use std::time::Duration;

use async_trait::async_trait;
use microdash_usecases::ports::{LeaderLock, LockError};
use redis::aio::ConnectionManager;

use crate::options::{ConnectError, RedisOptions};

/// Takes the lock when free, renews it when ours. Returns 1 when we hold it now.
const ACQUIRE_SCRIPT: &str = r"
local v = redis.call('GET', KEYS[1])
if v == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// Deletes the lock only when ours.
const RELEASE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// The leader lock of the schedulers sharing one Redis (and key prefix).
pub struct RedisLeaderLock {
    con: ConnectionManager,
    key: String,
    holder: String,
    acquire: redis::Script,
    release: redis::Script,
}

impl RedisLeaderLock {
    /// Connects; `holder` names this process in the lock (unique per process, e.g. host + pid).
    ///
    /// # Errors
    /// [`ConnectError`] when the URL is invalid or Redis does not answer.
    pub async fn connect(options: &RedisOptions, holder: impl Into<String>) -> Result<Self, ConnectError> {
        Ok(Self {
            con: options.manager(Duration::ZERO).await?,
            key: options.leader_key(),
            holder: holder.into(),
            acquire: redis::Script::new(ACQUIRE_SCRIPT),
            release: redis::Script::new(RELEASE_SCRIPT),
        })
    }

    /// Who holds the lock now, if anyone (for the operator).
    ///
    /// # Errors
    /// [`LockError::Unavailable`] when Redis cannot be reached.
    pub async fn holder(&self) -> Result<Option<String>, LockError> {
        redis::cmd("GET")
            .arg(&self.key)
            .query_async(&mut self.con.clone())
            .await
            .map_err(LockError::unavailable)
    }
}

#[async_trait]
impl LeaderLock for RedisLeaderLock {
    async fn acquire(&self, ttl: Duration) -> Result<bool, LockError> {
        let held: i64 = self
            .acquire
            .key(&self.key)
            .arg(&self.holder)
            .arg(ttl.as_millis().max(1) as u64)
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(LockError::unavailable)?;
        Ok(held == 1)
    }

    async fn release(&self) -> Result<(), LockError> {
        let _: i64 = self
            .release
            .key(&self.key)
            .arg(&self.holder)
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(LockError::unavailable)?;
        Ok(())
    }
}
