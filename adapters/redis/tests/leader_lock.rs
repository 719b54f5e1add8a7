//! The leader lock on the real Redis, beyond the port contract (`contract.rs`): what only the
//! Redis lock offers.

#[allow(dead_code)]
#[path = "support/redis.rs"]
mod support;

use std::time::Duration;

use microdash_adapter_redis::RedisLeaderLock;
use microdash_usecases::ports::LeaderLock;
use support::TestRedis;

#[tokio::test]
async fn every_contender_can_name_the_current_holder() {
    let redis = TestRedis::new();
    let a = RedisLeaderLock::connect(&redis.options, "a").await.unwrap();
    let b = RedisLeaderLock::connect(&redis.options, "b").await.unwrap();
    assert_eq!(b.holder().await.unwrap(), None, "nobody holds a new lock");
    assert!(a.acquire(Duration::from_secs(5)).await.unwrap());
    assert_eq!(b.holder().await.unwrap().as_deref(), Some("a"));
    a.release().await.unwrap();
    assert_eq!(b.holder().await.unwrap(), None, "released: nobody again");
}
