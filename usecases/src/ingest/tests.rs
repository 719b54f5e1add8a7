//! Interaction tests with mocks: what must *not* happen when a batch is refused.

use std::sync::Arc;

use microdash_domain::{Retention, TenantId, TenantSlug, Timestamp, TokenId};

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
    let IngestError::Invalid(errors) = err else { panic!("expected Invalid, got {err:?}") };
    assert_eq!((errors.len(), errors[0].index), (1, 1));
}

#[tokio::test]
async fn an_unreachable_rate_limiter_makes_ingest_unavailable_not_unlimited() {
    let mut limiter = MockRateLimiter::new();
    limiter.expect_acquire().returning(|_, _, _| Err(RateLimitError::Unavailable("down".into())));
    let mut queue = MockIngestQueue::new();
    queue.expect_enqueue().never();
    let svc = IngestService::new(Arc::new(queue), Arc::new(limiter), clock(), IngestLimits::default());
    let err = svc.ingest(&principal(), br#"{"name":"a","value":1}"#).await.unwrap_err();
    assert!(matches!(err, IngestError::Unavailable { .. }), "{err:?}");
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
