//! The leader lock on the real Redis.

#[allow(dead_code)]
#[path = "support/redis.rs"]
mod support;

use std::time::Duration;

use microdash_adapter_redis::RedisLeaderLock;
use microdash_usecases::ports::LeaderLock;
use support::TestRedis;

#[tokio::test]
async fn only_one_holder_at_a_time_and_the_holder_renews() {
    let redis = TestRedis::new();
    let a = RedisLeaderLock::connect(&redis.options, "a").await.unwrap();
    let b = RedisLeaderLock::connect(&redis.options, "b").await.unwrap();
    assert!(a.acquire(Duration::from_secs(5)).await.unwrap());
    assert!(!b.acquire(Duration::from_secs(5)).await.unwrap(), "b must wait while a holds it");
    assert!(a.acquire(Duration::from_secs(5)).await.unwrap(), "a renews its own lease");
    assert_eq!(b.holder().await.unwrap().as_deref(), Some("a"));
}

#[tokio::test]
async fn a_lease_that_is_not_renewed_expires_and_another_takes_it() {
    let redis = TestRedis::new();
    let a = RedisLeaderLock::connect(&redis.options, "a").await.unwrap();
    let b = RedisLeaderLock::connect(&redis.options, "b").await.unwrap();
    assert!(a.acquire(Duration::from_millis(200)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(b.acquire(Duration::from_secs(5)).await.unwrap());
    assert!(!a.acquire(Duration::from_secs(5)).await.unwrap(), "a lost it for good");
}

#[tokio::test]
async fn release_frees_the_lock_only_for_its_holder() {
    let redis = TestRedis::new();
    let a = RedisLeaderLock::connect(&redis.options, "a").await.unwrap();
    let b = RedisLeaderLock::connect(&redis.options, "b").await.unwrap();
    assert!(a.acquire(Duration::from_secs(30)).await.unwrap());
    b.release().await.unwrap();
    assert!(!b.acquire(Duration::from_secs(30)).await.unwrap(), "b cannot release a's lock");
    a.release().await.unwrap();
    assert!(b.acquire(Duration::from_secs(30)).await.unwrap(), "free at once after a released it");
}
