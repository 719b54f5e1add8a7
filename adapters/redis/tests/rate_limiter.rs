//! `RedisRateLimiter` beyond the contract: one budget shared by several api nodes.

#[allow(dead_code)]
#[path = "support/redis.rs"]
mod support;

use std::time::Duration;

use microdash_adapter_redis::RedisRateLimiter;
use microdash_usecases::ports::{Admission, RateLimiter};
use support::TestRedis;

#[tokio::test]
async fn two_api_nodes_share_one_budget_per_key() {
    let redis = TestRedis::new();
    let a = RedisRateLimiter::connect(redis.options.clone()).await.unwrap();
    let b = RedisRateLimiter::connect(redis.options.clone()).await.unwrap();
    let key = "token:42";
    assert_eq!(a.acquire(key, 70, 120).await.unwrap(), Admission::Granted);
    assert_eq!(b.acquire(key, 50, 120).await.unwrap(), Admission::Granted);
    // 120 per minute = 2 per second: 10 more tokens take about 5 s (less whatever refilled).
    match a.acquire(key, 10, 120).await.unwrap() {
        Admission::Denied { retry_after } => assert!(
            retry_after > Duration::from_secs(4) && retry_after <= Duration::from_secs(5),
            "{retry_after:?}"
        ),
        Admission::Granted => panic!("the budget is spent across both nodes"),
    }
    assert!(matches!(b.acquire(key, 10, 120).await.unwrap(), Admission::Denied { .. }));
}

#[tokio::test]
async fn many_concurrent_requests_never_overspend_the_budget() {
    let redis = TestRedis::new();
    let a = RedisRateLimiter::connect(redis.options.clone()).await.unwrap();
    let b = RedisRateLimiter::connect(redis.options.clone()).await.unwrap();
    let tries = (0..50).map(|i| {
        let limiter = if i % 2 == 0 { &a } else { &b };
        limiter.acquire("shared", 1, 20)
    });
    let granted = futures::future::join_all(tries)
        .await
        .into_iter()
        .filter(|r| matches!(r, Ok(Admission::Granted)))
        .count();
    // 20 a minute refills one token every 3 s; the 50 calls take far less.
    assert_eq!(granted, 20);
}

#[tokio::test]
async fn buckets_expire_once_idle() {
    let redis = TestRedis::new();
    let a = RedisRateLimiter::connect(redis.options.clone()).await.unwrap();
    a.acquire("idle", 1, 10).await.unwrap();
    let ttl: i64 =
        redis::cmd("PTTL").arg(redis.options.rate_limit_key("idle")).query(&mut redis.raw()).unwrap();
    assert!(ttl > 60_000 && ttl <= 61_000, "{ttl}");
}
