//! Connection options shared by every Redis adapter, the key layout, and connecting.

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How to reach Redis and how the ingest queue behaves. `bin` builds it from its flags.
/// `Debug` hides the password of the URL.
#[derive(Clone)]
pub struct RedisOptions {
    /// Redis URL, e.g. `redis://127.0.0.1:6379/0` (`rediss://` for TLS is not enabled).
    pub url: String,
    /// Prepended to every key and channel, e.g. `microdash:`, so several deployments (or
    /// tests) can share one Redis.
    pub key_prefix: String,
    /// Most entries (accepted requests) the ingest stream may hold, counting those read but
    /// not yet acknowledged; past it `enqueue` answers "full" and clients get a 503. Entries
    /// are never trimmed: a bound that dropped data would turn 202s into losses.
    pub stream_max_len: u64,
    /// Consumer group the workers share; each entry goes to one worker of the group.
    pub consumer_group: String,
    /// This worker's name inside the group; unique per process (e.g. host name + pid).
    pub consumer_name: String,
    /// Entries read but not acknowledged for this long are taken over by another worker
    /// (a crashed or stuck one will not ack them). Longer than a worker's worst storage
    /// retry, or a healthy but slow worker's entries are stored twice (dedupe absorbs it).
    pub claim_idle: Duration,
    /// An entry handed out this many times without being acknowledged goes to the
    /// dead-letter stream instead of being handed out again, so a poison batch cannot
    /// crash workers forever.
    pub max_deliveries: u32,
    /// How long one Redis command may take before it fails as "unavailable".
    pub response_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379".into(),
            key_prefix: "microdash:".into(),
            stream_max_len: 100_000,
            consumer_group: "microdash-workers".into(),
            consumer_name: format!("worker-{}", std::process::id()),
            claim_idle: Duration::from_secs(300),
            max_deliveries: 5,
            response_timeout: Duration::from_secs(2),
        }
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &redacted(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("stream_max_len", &self.stream_max_len)
            .field("consumer_group", &self.consumer_group)
            .field("consumer_name", &self.consumer_name)
            .field("claim_idle", &self.claim_idle)
            .field("max_deliveries", &self.max_deliveries)
            .field("response_timeout", &self.response_timeout)
            .finish()
    }
}

/// The URL with any `user:password@` replaced.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://[redacted]{}", &url[..scheme], &url[at..]),
        _ => url.to_string(),
    }
}

impl RedisOptions {
    /// The ingest stream.
    pub fn ingest_key(&self) -> String {
        format!("{}ingest", self.key_prefix)
    }

    /// The dead-letter stream of the ingest queue.
    pub fn dead_letter_key(&self) -> String {
        format!("{}ingest:dead", self.key_prefix)
    }

    /// The scheduler's leader lock.
    pub fn leader_key(&self) -> String {
        format!("{}scheduler:leader", self.key_prefix)
    }

    /// The pub/sub channel of one tenant's live samples.
    pub fn live_channel(&self, tenant: microdash_domain::TenantId) -> String {
        format!("{}live:{tenant}", self.key_prefix)
    }

    /// The rate limiter's bucket of one key.
    pub fn rate_limit_key(&self, key: &str) -> String {
        format!("{}rl:{key}", self.key_prefix)
    }

    pub(crate) fn client(&self) -> Result<redis::Client, ConnectError> {
        redis::Client::open(self.url.as_str()).map_err(ConnectError)
    }

    /// A self-reconnecting connection whose commands fail after `response_timeout`, plus
    /// `extra` for commands that block on purpose (`XREADGROUP BLOCK`).
    pub(crate) async fn manager(&self, extra: Duration) -> Result<ConnectionManager, ConnectError> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.response_timeout + extra))
            .set_connection_timeout(Some(self.response_timeout))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_max_delay(RECONNECT_MAX_DELAY);
        self.client()?.get_connection_manager_with_config(config).await.map_err(ConnectError)
    }
}

/// Reconnection attempts per outage before a command fails; the manager tries again on the
/// next command, so this only bounds how long one caller waits.
const RECONNECT_RETRIES: usize = 3;
/// Longest pause between reconnection attempts, so recovery after an outage is quick.
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(1);

/// Redis could not be reached (or the URL is invalid) when an adapter was built.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to Redis: {0}")]
pub struct ConnectError(#[source] pub redis::RedisError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_password() {
        let o =
            RedisOptions { url: "redis://user:s3cret@redis.internal:6379/0".into(), ..Default::default() };
        let text = format!("{o:?}");
        assert!(text.contains("redis://[redacted]@redis.internal:6379/0"), "{text}");
        assert!(!text.contains("s3cret"));
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn keys_share_the_prefix() {
        let o = RedisOptions { key_prefix: "p:".into(), ..Default::default() };
        assert_eq!(
            [
                o.ingest_key(),
                o.dead_letter_key(),
                o.live_channel(microdash_domain::TenantId::new(3)),
                o.rate_limit_key("t")
            ],
            ["p:ingest", "p:ingest:dead", "p:live:3", "p:rl:t"]
        );
    }
}
