//! What the adapters do when Redis goes away and comes back (through a proxy that is cut).

#[allow(dead_code)]
#[path = "support/proxy.rs"]
mod proxy;
#[allow(dead_code)]
#[path = "support/redis.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use microdash_adapter_redis::{
    RedisIngestQueue, RedisLeaderLock, RedisLiveBus, RedisOptions, RedisRateLimiter,
};
use microdash_domain::{TenantId, Timestamp};
use microdash_usecases::ErrorChain;
use microdash_usecases::ports::{
    HealthCheck, IngestBatch, IngestQueue, LeaderLock, LiveBus, LiveMessage, QueueError, RateLimitError,
    RateLimiter,
};
use proxy::Proxy;
use support::{TestRedis, eventually};

const WAIT: Duration = Duration::from_secs(10);

fn batch() -> IngestBatch {
    IngestBatch {
        request_id: "r".into(),
        tenant: TenantId::new(1),
        received_at: Timestamp::from_millis(0),
        samples: vec![],
    }
}

/// A proxy in front of the test's Redis, and options that reach Redis through it and give up on
/// a silent server after 300 ms.
async fn behind_proxy(redis: &TestRedis) -> (Proxy, RedisOptions) {
    let proxy = Proxy::start(&redis.options.url).await;
    let options = RedisOptions {
        url: proxy.url(),
        response_timeout: Duration::from_millis(300),
        ..redis.options.clone()
    };
    (proxy, options)
}

#[tokio::test]
async fn enqueue_answers_unavailable_while_redis_is_down_and_recovers_after() {
    let redis = TestRedis::new();
    let (proxy, options) = behind_proxy(&redis).await;
    let q = RedisIngestQueue::connect(options.clone()).await.unwrap();
    let limiter = RedisRateLimiter::connect(options).await.unwrap();
    q.enqueue(batch()).await.unwrap();

    proxy.cut();
    let down = tokio::time::timeout(WAIT, q.enqueue(batch())).await.expect("fails fast, never hangs");
    assert!(matches!(down, Err(QueueError::Unavailable(_))), "never Ok while Redis is down: {down:?}");
    assert!(q.check().await.is_err(), "the health check sees the outage");
    let limited = tokio::time::timeout(WAIT, limiter.acquire("k", 1, 10)).await.expect("fails fast");
    assert!(matches!(limited, Err(RateLimitError::Unavailable(_))), "{limited:?}");

    proxy.restore().await;
    eventually(WAIT, "enqueue to work again", || async { q.enqueue(batch()).await.ok() }).await;
    assert_eq!(q.stats().await.unwrap().depth, 2, "the batch refused during the outage was not stored");
}

/// The `redis::RedisError` directly under `error`, and the one line a log would show for it.
fn redis_cause<'a>(error: &'a (dyn std::error::Error + 'static)) -> (&'a redis::RedisError, String) {
    let cause = error
        .source()
        .and_then(|s| s.downcast_ref::<redis::RedisError>())
        .unwrap_or_else(|| panic!("the RedisError is not the source of {error:?}"));
    (cause, ErrorChain(error).to_string())
}

#[tokio::test]
async fn every_error_of_an_outage_keeps_the_redis_error_as_its_cause() {
    // Arrange: every adapter through one proxy, which is then cut.
    let redis = TestRedis::new();
    let (proxy, options) = behind_proxy(&redis).await;
    let queue = RedisIngestQueue::connect(options.clone()).await.unwrap();
    let limiter = RedisRateLimiter::connect(options.clone()).await.unwrap();
    let lock = RedisLeaderLock::connect(&options, "outage-test").await.unwrap();
    let bus = RedisLiveBus::connect(options, 16).await.unwrap();
    proxy.cut();

    // Act
    let enqueued = tokio::time::timeout(WAIT, queue.enqueue(batch())).await.expect("fails fast");
    let acquired = tokio::time::timeout(WAIT, limiter.acquire("k", 1, 10)).await.expect("fails fast");
    let locked = tokio::time::timeout(WAIT, lock.acquire(Duration::from_secs(5))).await.expect("fails fast");
    let published = tokio::time::timeout(WAIT, bus.publish(TenantId::new(1), Arc::new(vec![])))
        .await
        .expect("fails fast");
    let queue_health = tokio::time::timeout(WAIT, queue.check()).await.expect("fails fast");
    let limiter_health = tokio::time::timeout(WAIT, limiter.check()).await.expect("fails fast");

    // Assert: each error names the Redis error under it, as the log line at the boundary will.
    let errors: [(&str, &(dyn std::error::Error + 'static)); 6] = [
        ("ingest queue unavailable", &enqueued.expect_err("enqueue fails")),
        ("rate limiter unavailable", &acquired.expect_err("acquire fails")),
        ("leader lock unavailable", &locked.expect_err("lock fails")),
        ("live bus unavailable", &published.expect_err("publish fails")),
        ("Redis", &queue_health.expect_err("queue unhealthy")),
        ("Redis", &limiter_health.expect_err("limiter unhealthy")),
    ];
    for (port, error) in errors {
        let (cause, chain) = redis_cause(error);
        assert_eq!(error.to_string(), port);
        assert!(chain.starts_with(&format!("{port}: {cause}")), "{chain}");
    }
}

#[tokio::test]
async fn live_viewers_are_told_they_lagged_after_a_reconnection_and_keep_receiving() {
    let redis = TestRedis::new();
    let proxy = Proxy::start(&redis.options.url).await;
    let viewer_node =
        RedisLiveBus::connect(RedisOptions { url: proxy.url(), ..redis.options.clone() }, 16).await.unwrap();
    let worker = RedisLiveBus::connect(redis.options.clone(), 16).await.unwrap();
    let tenant = TenantId::new(5);
    let mut viewer = viewer_node.subscribe(tenant).await.unwrap();

    proxy.cut();
    proxy.restore().await;
    let first = tokio::time::timeout(WAIT, viewer.messages.next()).await.expect("told in time");
    assert_eq!(first, Some(LiveMessage::Lagged(0)));

    let samples = Arc::new(vec![]);
    let deadline = tokio::time::Instant::now() + WAIT;
    let got = loop {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for delivery after reconnecting");
        worker.publish(tenant, samples.clone()).await.unwrap();
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), viewer.messages.next()).await {
            break m;
        }
    };
    assert!(matches!(got, LiveMessage::Samples { samples: got, .. } if got == samples));
}
