//! The Redis adapters against the port contract suite, on the real Redis.

#[allow(dead_code)]
#[path = "support/redis.rs"]
mod support;

use microdash_adapter_redis::{RedisIngestQueue, RedisLiveBus, RedisRateLimiter};
use microdash_usecases::ports::contract;
use support::TestRedis;

#[tokio::test]
async fn ingest_queue_contract() {
    let redis = TestRedis::new();
    let q = RedisIngestQueue::connect(redis.options.clone()).await.unwrap();
    contract::ingest_queue_delivers_every_batch_in_order(&q, &q).await;
}

#[tokio::test]
async fn live_bus_contract() {
    let redis = TestRedis::new();
    let bus = RedisLiveBus::connect(redis.options.clone(), 16).await.unwrap();
    contract::live_bus_delivers_to_the_tenants_subscribers_only(&bus).await;
}

#[tokio::test]
async fn live_bus_numbering_contract() {
    let redis = TestRedis::new();
    let bus = RedisLiveBus::connect(redis.options.clone(), 16).await.unwrap();
    contract::live_bus_numbers_each_tenants_messages_consecutively(&bus).await;
}

#[tokio::test]
async fn rate_limiter_contract() {
    let redis = TestRedis::new();
    let limiter = RedisRateLimiter::connect(redis.options.clone()).await.unwrap();
    contract::rate_limiter_grants_up_to_the_budget_then_denies(&limiter).await;
    contract::rate_limiter_refunds_up_to_the_budget(&limiter).await;
}
