//! Interaction tests with mocks: what must *not* happen when a batch is refused.

use std::sync::Arc;

use microdash_domain::{MetricsTopic, Retention, Tenant, TenantId, TenantSlug, Timestamp, TokenId};

use super::*;
use crate::ports::{MockClock, MockIngestQueue, MockRateLimiter, RateLimitError};

fn principal() -> Principal {
    Principal {
        tenant: TenantId::new(7),
        tenant_slug: TenantSlug::new("acme").unwrap(),
        token_id: TokenId::new(3),
        samples_per_minute: 1000,
        retention: Retention::default(),
    }
}

/// What a Redis client reports when the server is down.
fn refused() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused by redis:6379")
}

fn clock() -> Arc<MockClock> {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(Timestamp::from_millis(1_795_000_000_000));
    Arc::new(clock)
}

#[tokio::test]
async fn an_invalid_item_rejects_the_whole_batch_without_spending_quota_or_enqueuing() {
    let mut queue = MockIngestQueue::new();
    queue.expect_enqueue().never();
    let mut limiter = MockRateLimiter::new();
    limiter.expect_acquire().never();
    let svc = IngestService::new(Arc::new(queue), Arc::new(limiter), clock(), IngestLimits::default());
    let err =
        svc.ingest(&principal(), br#"[{"name":"a","value":1},{"name":"a","value":"x"}]"#).await.unwrap_err();
    let IngestError::Parse(ParseError::Invalid(errors)) = err else {
        panic!("expected Invalid, got {err:?}")
    };
    assert_eq!((errors.len(), errors[0].index), (1, 1));
}

#[tokio::test]
async fn an_unreachable_rate_limiter_makes_ingest_unavailable_not_unlimited() {
    let mut limiter = MockRateLimiter::new();
    limiter.expect_acquire().returning(|_, _, _| Err(RateLimitError::unavailable(refused())));
    let mut queue = MockIngestQueue::new();
    queue.expect_enqueue().never();
    let svc = IngestService::new(Arc::new(queue), Arc::new(limiter), clock(), IngestLimits::default());
    let err = svc.ingest(&principal(), br#"{"name":"a","value":1}"#).await.unwrap_err();
    assert!(matches!(err, IngestError::Admission(AdmissionError::Unavailable { .. })), "{err:?}");
    assert_eq!(
        ErrorChain(&err).to_string(),
        "ingest is temporarily unavailable: rate limiter unavailable: connection refused by redis:6379"
    );
}

#[tokio::test]
async fn an_unreachable_queue_is_unavailable_with_the_queues_own_error_as_the_cause() {
    let mut limiter = MockRateLimiter::new();
    limiter.expect_acquire().returning(|_, _, _| Ok(Admission::Granted));
    limiter.expect_refund().returning(|_, _, _| Ok(()));
    let mut queue = MockIngestQueue::new();
    queue.expect_enqueue().returning(|_| Err(QueueError::unavailable(refused())));
    let svc = IngestService::new(Arc::new(queue), Arc::new(limiter), clock(), IngestLimits::default());

    let err = svc.ingest(&principal(), br#"{"name":"a","value":1}"#).await.unwrap_err();

    let IngestError::Admission(AdmissionError::Unavailable { retry_after, source }) = &err else {
        panic!("expected Unavailable, got {err:?}")
    };
    assert_eq!(*retry_after, UNAVAILABLE_RETRY_AFTER);
    let queue_error = source.downcast_ref::<QueueError>().expect("the queue's error is the source");
    let io = std::error::Error::source(queue_error)
        .and_then(|e| e.downcast_ref::<std::io::Error>())
        .expect("the queue keeps the backend's error as its source");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(
        ErrorChain(&err).to_string(),
        "ingest is temporarily unavailable: ingest queue unavailable: connection refused by redis:6379",
        "the same text the 503 has always carried, now built from the causes"
    );
}

#[tokio::test]
async fn a_batch_the_queue_refuses_gets_its_quota_back_so_the_retry_is_not_charged_twice() {
    let mut limiter = MockRateLimiter::new();
    limiter.expect_acquire().times(1).returning(|_, _, _| Ok(Admission::Granted));
    limiter
        .expect_refund()
        .withf(|key, cost, per_minute| key == "token:3" && *cost == 2 && *per_minute == 1000)
        .times(1)
        .returning(|_, _, _| Ok(()));
    let mut queue = MockIngestQueue::new();
    queue
        .expect_enqueue()
        .times(1)
        .returning(|_| Err(QueueError::Full { retry_after: Duration::from_secs(1) }));
    let svc = IngestService::new(Arc::new(queue), Arc::new(limiter), clock(), IngestLimits::default());
    let err =
        svc.ingest(&principal(), br#"[{"name":"a","value":1},{"name":"b","value":2}]"#).await.unwrap_err();
    assert!(matches!(err, IngestError::Admission(AdmissionError::Unavailable { .. })), "{err:?}");
}

#[tokio::test]
async fn quota_is_charged_per_token_with_the_number_of_samples() {
    let mut limiter = MockRateLimiter::new();
    limiter
        .expect_acquire()
        .withf(|key, cost, per_minute| key == "token:3" && *cost == 2 && *per_minute == 1000)
        .times(1)
        .returning(|_, _, _| Ok(Admission::Granted));
    let mut queue = MockIngestQueue::new();
    queue
        .expect_enqueue()
        .withf(|b| b.tenant == TenantId::new(7) && b.samples.len() == 2)
        .times(1)
        .returning(|_| Ok(()));
    let svc = IngestService::new(Arc::new(queue), Arc::new(limiter), clock(), IngestLimits::default());
    let receipt =
        svc.ingest(&principal(), br#"[{"name":"a","value":1},{"name":"b","value":2}]"#).await.unwrap();
    assert_eq!(receipt.accepted, 2);
}

#[tokio::test]
async fn a_message_is_validated_with_the_http_item_limit_and_nothing_is_charged() {
    let mut limiter = MockRateLimiter::new();
    limiter.expect_acquire().never();
    let mut queue = MockIngestQueue::new();
    queue.expect_enqueue().never();
    let svc = IngestService::new(Arc::new(queue), Arc::new(limiter), clock(), IngestLimits { max_items: 2 });
    let topic = MetricsTopic::parse("metrics/acme/a1").unwrap();
    let three = br#"[{"name":"a","value":1},{"name":"b","value":1},{"name":"c","value":1}]"#;
    let err = svc.parse_message(&Retention::default(), &topic, three).unwrap_err();
    assert!(matches!(err, ParseError::TooManyItems { count: 3, max: 2 }), "{err:?}");
    let ok = svc.parse_message(&Retention::default(), &topic, br#"[{"name":"a","value":1}]"#).unwrap();
    assert_eq!(ok[0].timestamp.as_millis(), 1_795_000_000_000, "stamped with the service's clock");
}

#[tokio::test]
async fn bridged_samples_are_charged_to_the_tenants_bridge_budget() {
    let mut limiter = MockRateLimiter::new();
    limiter
        .expect_acquire()
        .withf(|key, cost, per_minute| key == "bridge:7" && *cost == 1 && *per_minute == 500)
        .times(1)
        .returning(|_, _, _| Ok(Admission::Granted));
    let mut queue = MockIngestQueue::new();
    queue.expect_enqueue().withf(|b| b.tenant == TenantId::new(7)).times(1).returning(|_| Ok(()));
    let svc = IngestService::new(Arc::new(queue), Arc::new(limiter), clock(), IngestLimits::default());
    let tenant = Tenant {
        id: TenantId::new(7),
        slug: TenantSlug::new("acme").unwrap(),
        name: "Acme".into(),
        samples_per_minute: 500,
        retention: Retention::default(),
        created_at: Timestamp::from_millis(0),
    };
    let topic = MetricsTopic::parse("metrics/acme/a1/cpu").unwrap();
    let samples = svc.parse_message(&tenant.retention, &topic, b"2.5").unwrap();
    assert_eq!(svc.ingest_bridged(&tenant, samples).await.unwrap().accepted, 1);
}

#[tokio::test]
async fn samples_beyond_the_whole_quota_are_refused_before_the_limiter_is_asked() {
    let mut limiter = MockRateLimiter::new();
    limiter.expect_acquire().never();
    let mut queue = MockIngestQueue::new();
    queue.expect_enqueue().never();
    let svc = IngestService::new(Arc::new(queue), Arc::new(limiter), clock(), IngestLimits::default());
    let who = Principal { samples_per_minute: 1, ..principal() };
    let topic = MetricsTopic::parse("metrics/acme/a1").unwrap();
    let two = svc
        .parse_message(&who.retention, &topic, br#"[{"name":"a","value":1},{"name":"b","value":1}]"#)
        .unwrap();
    let err = svc.ingest_samples(&who, two).await.unwrap_err();
    assert!(matches!(err, AdmissionError::BatchOverQuota { count: 2, per_minute: 1 }), "{err:?}");
}
