//! The Redis adapters against the port contract suite, on the real Redis: every contract
//! function of these ports runs here through the family macros, so none can be missed. Each
//! test gets its own key prefix.

#[allow(dead_code)]
#[path = "support/redis.rs"]
mod support;

use microdash_adapter_redis::{RedisIngestQueue, RedisLeaderLock, RedisLiveBus, RedisRateLimiter};
use support::TestRedis;

// One queue is both producer and consumer.
microdash_usecases::ingest_queue_contract!(queue, queue =>
    let redis = TestRedis::new();
    let queue = RedisIngestQueue::connect(redis.options.clone()).await.unwrap()
);

microdash_usecases::live_bus_contract!(bus =>
    let redis = TestRedis::new();
    let bus = RedisLiveBus::connect(redis.options.clone(), 16).await.unwrap()
);

microdash_usecases::rate_limiter_contract!(limiter =>
    let redis = TestRedis::new();
    let limiter = RedisRateLimiter::connect(redis.options.clone()).await.unwrap()
);

microdash_usecases::leader_lock_contract!(a, b =>
    let redis = TestRedis::new();
    let a = RedisLeaderLock::connect(&redis.options, "a").await.unwrap();
    let b = RedisLeaderLock::connect(&redis.options, "b").await.unwrap()
);
