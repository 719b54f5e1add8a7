use std::sync::Arc;
use std::time::Duration;

use microdash_adapter_memory::{FakeClock, MemoryIngestQueue, MemoryRateLimiter, MemoryStore};
use microdash_domain::tenant::NewTenant;
use microdash_domain::{MetricsTopic, Retention, TenantId, TenantSlug, Timestamp, TokenId};
use microdash_usecases::ingest::TenantDirectory;
use microdash_usecases::ports::{IngestConsumer, TenantRepo};
use microdash_usecases::{AdmissionError, IngestError, IngestLimits, IngestService, Principal};

const NOW: i64 = 1_795_000_000_000;

fn principal(per_minute: u64) -> Principal {
    Principal {
        tenant: TenantId::new(7),
        tenant_slug: TenantSlug::new("acme").unwrap(),
        token_id: TokenId::new(3),
        samples_per_minute: per_minute,
        retention: Retention::default(),
    }
}

fn service(queue: Arc<MemoryIngestQueue>, clock: Arc<FakeClock>) -> IngestService {
    let limiter = Arc::new(MemoryRateLimiter::new(clock.clone()));
    IngestService::new(queue, limiter, clock, IngestLimits::default())
}

fn clock() -> Arc<FakeClock> {
    Arc::new(FakeClock::new(Timestamp::from_millis(NOW)))
}

#[tokio::test]
async fn an_accepted_batch_is_in_the_queue_with_the_callers_tenant() {
    let queue = Arc::new(MemoryIngestQueue::new(1000));
    let svc = service(queue.clone(), clock());
    let receipt =
        svc.ingest(&principal(1000), br#"[{"name":"a","value":1},{"name":"b","value":2}]"#).await.unwrap();
    assert_eq!(receipt.accepted, 2);
    let got = queue.next(100).await.unwrap().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].batch.tenant, TenantId::new(7));
    assert_eq!(got[0].batch.request_id, receipt.request_id);
    assert_eq!(got[0].batch.received_at.as_millis(), NOW);
    assert_eq!(got[0].batch.samples.len(), 2);
}

#[tokio::test]
async fn the_quota_is_per_token_per_minute_and_refills() {
    let clock = clock();
    let svc = service(Arc::new(MemoryIngestQueue::new(1000)), clock.clone());
    let two = br#"[{"name":"a","value":1},{"name":"b","value":2}]"#;
    svc.ingest(&principal(3), two).await.unwrap();
    let err = svc.ingest(&principal(3), two).await.unwrap_err();
    let IngestError::Admission(AdmissionError::QuotaExceeded { retry_after, .. }) = err else {
        panic!("expected quota, got {err:?}")
    };
    assert!(retry_after <= Duration::from_secs(20), "one sample refills in 20 s: {retry_after:?}");
    clock.advance(Duration::from_secs(20));
    svc.ingest(&principal(3), two).await.unwrap();
}

#[tokio::test]
async fn a_batch_larger_than_the_whole_quota_says_to_split_it() {
    let svc = service(Arc::new(MemoryIngestQueue::new(1000)), clock());
    let err =
        svc.ingest(&principal(1), br#"[{"name":"a","value":1},{"name":"b","value":2}]"#).await.unwrap_err();
    assert!(
        matches!(err, IngestError::Admission(AdmissionError::BatchOverQuota { count: 2, per_minute: 1 })),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_full_queue_is_unavailable_with_retry_after_never_accepted() {
    let svc = service(Arc::new(MemoryIngestQueue::new(1)), clock());
    svc.ingest(&principal(1000), br#"{"name":"a","value":1}"#).await.unwrap();
    let err = svc.ingest(&principal(1000), br#"{"name":"a","value":1}"#).await.unwrap_err();
    assert!(
        matches!(err, IngestError::Admission(AdmissionError::Unavailable { retry_after, .. }) if retry_after > Duration::ZERO),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_closed_queue_refuses_new_batches() {
    let queue = Arc::new(MemoryIngestQueue::new(1000));
    queue.close();
    let err =
        service(queue, clock()).ingest(&principal(1000), br#"{"name":"a","value":1}"#).await.unwrap_err();
    assert!(matches!(err, IngestError::Admission(AdmissionError::Unavailable { .. })), "{err:?}");
}

#[tokio::test]
async fn mqtt_messages_and_http_requests_of_one_token_spend_one_quota() {
    let queue = Arc::new(MemoryIngestQueue::new(1000));
    let svc = service(queue.clone(), clock());
    let who = principal(10);
    let topic = MetricsTopic::parse("metrics/acme/a1/cpu").unwrap();
    svc.ingest(
        &who,
        br#"[{"name":"a","value":1,"ts":1795000000001},{"name":"a","value":1,"ts":1795000000002}]"#,
    )
    .await
    .unwrap();
    let mut samples = Vec::new();
    for _ in 0..7 {
        samples.extend(svc.parse_message(&who.retention, &topic, b"1").unwrap());
    }
    svc.ingest_samples(&who, samples).await.unwrap();
    let got = queue.next(100).await.unwrap().unwrap();
    assert_eq!(
        got.iter().map(|d| d.batch.samples.len()).collect::<Vec<_>>(),
        vec![2, 7],
        "one entry per call"
    );
    let err = svc.ingest(&who, br#"[{"name":"b","value":1},{"name":"c","value":2}]"#).await.unwrap_err();
    assert!(
        matches!(err, IngestError::Admission(AdmissionError::QuotaExceeded { per_minute: 10, .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_tenant_directory_finds_a_new_tenant_once_the_cached_miss_expires() {
    let clock = clock();
    let store = Arc::new(MemoryStore::default());
    let directory = TenantDirectory::new(store.clone(), clock.clone());
    let slug = TenantSlug::new("late").unwrap();
    assert!(directory.find(&slug).await.unwrap().is_none());
    store
        .create(NewTenant { slug: slug.clone(), name: "Late".into() }, Timestamp::from_millis(NOW))
        .await
        .unwrap();
    assert!(directory.find(&slug).await.unwrap().is_none(), "a miss is trusted for a second");
    clock.advance(Duration::from_secs(1));
    assert_eq!(directory.find(&slug).await.unwrap().unwrap().slug, slug);
}
