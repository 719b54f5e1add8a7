use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use microdash_adapter_memory::{MemoryIngestQueue, MemoryLiveBus, MemoryStore};
use microdash_domain::sample::SeriesKey;
use microdash_domain::{DedupeId, MetricName, Tags};

use std::sync::Arc;
use std::time::Duration;

use microdash_domain::{AgentId, Sample, TenantId, Timestamp};
use microdash_usecases::ports::StoreError;
use microdash_usecases::ports::{
    AgentRegistry, Delivery, IngestBatch, IngestConsumer, IngestQueue, Inserted, LiveBus, LiveMessage,
    QueueError, RawQuery, RawQueryResult, SampleStore,
};
use microdash_usecases::{PersistOptions, PersistService};

const T0: i64 = 1_795_000_000_000;

fn sample(agent: &str, offset: i64, dedupe: Option<&str>) -> Sample {
    Sample {
        series: SeriesKey {
            metric: MetricName::new("cpu").unwrap(),
            agent: Some(AgentId::new(agent).unwrap()),
            tags: Tags::empty(),
        },
        value: offset as f64,
        timestamp: Timestamp::from_millis(T0 + offset),
        dedupe_id: dedupe.map(|d| DedupeId::new(d).unwrap()),
    }
}

fn batch(tenant: i64, samples: Vec<Sample>) -> IngestBatch {
    IngestBatch {
        request_id: "r".into(),
        tenant: TenantId::new(tenant),
        received_at: Timestamp::from_millis(T0 + 500),
        samples,
    }
}

fn options() -> PersistOptions {
    PersistOptions {
        max_samples_per_round: 1000,
        retry_initial: Duration::from_millis(1),
        retry_max: Duration::from_millis(2),
        registry_flush: Duration::from_secs(3600),
    }
}

fn everything() -> RawQuery {
    RawQuery {
        metric: MetricName::new("cpu").unwrap(),
        agent: None,
        tags: microdash_domain::Tags::empty(),
        start: Timestamp::from_millis(T0 - 1000),
        end: Timestamp::from_millis(T0 + 1000),
        limit: 100,
    }
}

#[tokio::test]
async fn the_worker_stores_every_queued_batch_then_stops_when_the_queue_closes() {
    let queue = Arc::new(MemoryIngestQueue::new(10_000));
    let store = Arc::new(MemoryStore::default());
    let live = Arc::new(MemoryLiveBus::new(16));
    let mut sub = live.subscribe(TenantId::new(1)).await.unwrap();
    let svc = PersistService::new(queue.clone(), store.clone(), store.clone(), live, options());
    queue.enqueue(batch(1, vec![sample("h1", 0, None), sample("h1", 1, Some("d"))])).await.unwrap();
    queue.enqueue(batch(2, vec![sample("h9", 0, None)])).await.unwrap();
    queue.enqueue(batch(1, vec![sample("h2", 2, Some("d"))])).await.unwrap(); // duplicate of d
    queue.close();

    svc.run().await;

    let stored = store.query_raw(TenantId::new(1), &everything()).await.unwrap();
    assert_eq!(stored.total, 2, "the replayed dedupe id is stored once");
    assert_eq!(store.query_raw(TenantId::new(2), &everything()).await.unwrap().total, 1);
    let agents = store.list(TenantId::new(1)).await.unwrap();
    assert_eq!(agents.len(), 1, "h2's only sample was a duplicate, so h2 was not heard from");
    assert_eq!((agents[0].agent.as_str(), agents[0].samples), ("h1", 2));
    assert_eq!(agents[0].last_seen.as_millis(), T0 + 500);
    let Some(LiveMessage::Samples { samples: live, .. }) = sub.messages.next().await else {
        panic!("expected samples")
    };
    assert_eq!(live.len(), 2, "only stored samples are published");
}

/// A memory store whose writes fail as `fail(tenant, attempt)` says (attempts count from 0).
struct FailingStore {
    inner: Arc<MemoryStore>,
    fail: fn(TenantId, usize) -> Option<StoreError>,
    attempts: AtomicUsize,
}

impl FailingStore {
    fn new(inner: Arc<MemoryStore>, fail: fn(TenantId, usize) -> Option<StoreError>) -> Arc<Self> {
        Arc::new(Self { inner, fail, attempts: AtomicUsize::new(0) })
    }
}

#[async_trait::async_trait]
impl SampleStore for FailingStore {
    async fn insert_batch(&self, tenant: TenantId, batch: &[Sample]) -> Result<Inserted, StoreError> {
        if let Some(error) = (self.fail)(tenant, self.attempts.fetch_add(1, Ordering::SeqCst)) {
            return Err(error);
        }
        self.inner.insert_batch(tenant, batch).await
    }

    async fn query_raw(&self, tenant: TenantId, q: &RawQuery) -> Result<RawQueryResult, StoreError> {
        self.inner.query_raw(tenant, q).await
    }

    async fn metric_names(&self, tenant: TenantId) -> Result<Vec<MetricName>, StoreError> {
        self.inner.metric_names(tenant).await
    }
}

#[tokio::test]
async fn a_failing_store_is_retried_until_it_succeeds_and_nothing_is_lost() {
    let queue = Arc::new(MemoryIngestQueue::new(10_000));
    let store = Arc::new(MemoryStore::default());
    let flaky = FailingStore::new(store.clone(), |_, attempt| {
        (attempt < 3).then(|| StoreError::Unavailable { message: "database is down".into(), source: None })
    });
    let svc = PersistService::new(
        queue.clone(),
        flaky.clone(),
        store.clone(),
        Arc::new(MemoryLiveBus::new(4)),
        options(),
    );
    queue.enqueue(batch(1, vec![sample("h1", 0, None)])).await.unwrap();
    queue.close();

    svc.run().await;

    assert_eq!(flaky.attempts.load(Ordering::SeqCst), 4);
    assert_eq!(store.query_raw(TenantId::new(1), &everything()).await.unwrap().total, 1);
}

#[tokio::test]
async fn a_batch_the_store_refuses_for_good_is_not_retried_and_does_not_block_the_others() {
    let queue = Arc::new(MemoryIngestQueue::new(10_000));
    let store = Arc::new(MemoryStore::default());
    let refusing = FailingStore::new(store.clone(), |tenant, _| {
        (tenant == TenantId::new(1))
            .then(|| StoreError::Rejected { message: "NOT NULL constraint failed".into(), source: None })
    });
    let svc = PersistService::new(
        queue.clone(),
        refusing.clone(),
        store.clone(),
        Arc::new(MemoryLiveBus::new(4)),
        options(),
    );
    queue.enqueue(batch(1, vec![sample("h1", 0, None)])).await.unwrap();
    queue.enqueue(batch(2, vec![sample("h2", 0, None)])).await.unwrap();
    queue.close();

    svc.run().await;

    assert_eq!(refusing.attempts.load(Ordering::SeqCst), 2, "one write per tenant: a refusal is final");
    assert_eq!(store.query_raw(TenantId::new(2), &everything()).await.unwrap().total, 1);
    assert_eq!(queue.depth(), 0, "the refused batch was acknowledged, not left to block the queue");
}

/// Refuses any batch holding a sample of agent `poison`, like a database refusing one bad row.
struct PoisonStore(Arc<MemoryStore>);

#[async_trait::async_trait]
impl SampleStore for PoisonStore {
    async fn insert_batch(&self, tenant: TenantId, batch: &[Sample]) -> Result<Inserted, StoreError> {
        if batch.iter().any(|s| s.series.agent.as_ref().is_some_and(|a| a.as_str() == "poison")) {
            return Err(StoreError::Rejected { message: "value out of range".into(), source: None });
        }
        self.0.insert_batch(tenant, batch).await
    }
    async fn query_raw(&self, tenant: TenantId, q: &RawQuery) -> Result<RawQueryResult, StoreError> {
        self.0.query_raw(tenant, q).await
    }
    async fn metric_names(&self, tenant: TenantId) -> Result<Vec<MetricName>, StoreError> {
        self.0.metric_names(tenant).await
    }
}

/// The memory queue, recording which deliveries were rejected.
struct Recording {
    queue: Arc<MemoryIngestQueue>,
    rejected: std::sync::Mutex<Vec<(String, String)>>,
}

#[async_trait::async_trait]
impl IngestConsumer for Recording {
    async fn next(&self, max: usize) -> Result<Option<Vec<Delivery>>, QueueError> {
        self.queue.next(max).await
    }
    async fn ack(&self, ids: &[String]) -> Result<(), QueueError> {
        self.queue.ack(ids).await
    }
    async fn reject(&self, id: &str, reason: &str) -> Result<(), QueueError> {
        self.rejected.lock().unwrap().push((id.to_string(), reason.to_string()));
        self.queue.reject(id, reason).await
    }
    async fn extend(&self, ids: &[String]) -> Result<(), QueueError> {
        self.queue.extend(ids).await
    }
}

#[tokio::test]
async fn a_poison_batch_in_a_round_is_set_aside_alone_and_the_rest_of_its_tenant_is_stored() {
    let queue = Arc::new(MemoryIngestQueue::new(10_000));
    let store = Arc::new(MemoryStore::default());
    let consumer = Arc::new(Recording { queue: queue.clone(), rejected: Default::default() });
    let svc = PersistService::new(
        consumer.clone(),
        Arc::new(PoisonStore(store.clone())),
        store.clone(),
        Arc::new(MemoryLiveBus::new(4)),
        options(),
    );
    queue.enqueue(batch(1, vec![sample("h1", 0, None)])).await.unwrap();
    queue.enqueue(batch(1, vec![sample("poison", 0, None)])).await.unwrap();
    queue.enqueue(batch(1, vec![sample("h2", 0, None)])).await.unwrap();
    queue.close();

    svc.run().await;

    let stored = store.query_raw(TenantId::new(1), &everything()).await.unwrap();
    let agents: Vec<_> =
        stored.series.iter().map(|s| s.agent.as_ref().unwrap().as_str().to_string()).collect();
    assert_eq!(agents, ["h1", "h2"], "both good batches of the round are stored");
    let rejected = consumer.rejected.lock().unwrap().clone();
    assert_eq!(rejected.len(), 1, "only the poison batch is set aside: {rejected:?}");
    assert_eq!(rejected[0].0, "1", "the second delivery");
    assert!(rejected[0].1.contains("value out of range"), "the reason says why: {}", rejected[0].1);
    assert_eq!(queue.depth(), 0);
}
