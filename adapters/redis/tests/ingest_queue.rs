//! `RedisIngestQueue` beyond the contract: the bound, crash recovery, dead letters, sharing.

#[allow(dead_code)]
#[path = "support/redis.rs"]
mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use microdash_adapter_redis::{RedisIngestQueue, RedisOptions};
use microdash_domain::sample::SeriesKey;
use microdash_domain::{MetricName, Sample, Tags, TenantId, Timestamp};
use microdash_usecases::ports::{HealthCheck, IngestBatch, IngestConsumer, IngestQueue, QueueError};
use support::{TestRedis, eventually};

const WAIT: Duration = Duration::from_secs(5);

fn batch(request_id: &str, n: usize) -> IngestBatch {
    let series = SeriesKey { metric: MetricName::new("cpu").unwrap(), agent: None, tags: Tags::empty() };
    let s =
        Sample { series, value: 1.5, timestamp: Timestamp::from_millis(1_795_000_000_000), dedupe_id: None };
    IngestBatch {
        request_id: request_id.into(),
        tenant: TenantId::new(1),
        received_at: Timestamp::from_millis(1_795_000_000_000),
        samples: vec![s; n],
    }
}

async fn queue(options: RedisOptions) -> RedisIngestQueue {
    RedisIngestQueue::connect(options).await.expect("connect to Redis")
}

async fn next_ids(q: &RedisIngestQueue, max_samples: usize) -> Vec<(String, String)> {
    let got = tokio::time::timeout(WAIT, q.next(max_samples)).await.expect("in time").unwrap().expect("open");
    got.into_iter().map(|d| (d.id, d.batch.request_id)).collect()
}

#[tokio::test]
async fn enqueue_answers_full_at_the_bound_and_accepts_again_once_acknowledged() {
    let redis = TestRedis::new();
    let q = queue(RedisOptions { stream_max_len: 3, ..redis.options.clone() }).await;
    for i in 0..3 {
        q.enqueue(batch(&format!("r{i}"), 1)).await.unwrap();
    }
    let full = q.enqueue(batch("r3", 1)).await;
    assert!(
        matches!(full, Err(QueueError::Full { retry_after }) if retry_after > Duration::ZERO),
        "{full:?}"
    );

    // Read-but-unacknowledged entries still count; acknowledged ones free room.
    let got = next_ids(&q, 1).await;
    assert!(matches!(q.enqueue(batch("r3", 1)).await, Err(QueueError::Full { .. })));
    q.ack(&[got[0].0.clone()]).await.unwrap();
    q.enqueue(batch("r3", 1)).await.unwrap();
    assert_eq!(q.stats().await.unwrap().depth, 3);
}

#[tokio::test]
async fn next_hands_out_batches_up_to_the_sample_budget_and_keeps_the_rest() {
    let redis = TestRedis::new();
    let q = queue(redis.options.clone()).await;
    for i in 0..5 {
        q.enqueue(batch(&format!("r{i}"), 10)).await.unwrap();
    }
    assert_eq!(next_ids(&q, 25).await.len(), 2);
    assert_eq!(next_ids(&q, 1).await.len(), 1, "always at least one batch");
    assert_eq!(next_ids(&q, 1000).await.len(), 2);
}

#[tokio::test]
async fn a_crashed_consumers_entries_are_claimed_by_another_after_claim_idle() {
    // Arrange
    let redis = TestRedis::new();
    let producer = queue(redis.options.clone()).await;
    for i in 0..3 {
        producer.enqueue(batch(&format!("r{i}"), 1)).await.unwrap();
    }
    // Act: c1 reads and "crashes" (is dropped without acknowledging).
    let c1 = queue(redis.consumer("c1")).await;
    let read_at = tokio::time::Instant::now();
    let lost = next_ids(&c1, 1000).await;
    assert_eq!(lost.len(), 3);
    drop(c1);
    let stats = producer.stats().await.unwrap();
    assert_eq!((stats.depth, stats.pending), (3, 3));
    assert!(stats.oldest_pending_age.is_some_and(|age| age < Duration::from_secs(5)), "{stats:?}");
    let c2 = queue(redis.consumer("c2")).await;
    let got = next_ids(&c2, 1000).await;

    // Assert
    assert!(read_at.elapsed() >= redis.options.claim_idle, "claimed only after claim_idle");
    assert_eq!(got, lost, "the same entries, in order");
    c2.ack(&got.iter().map(|g| g.0.clone()).collect::<Vec<_>>()).await.unwrap();
    let stats = c2.stats().await.unwrap();
    assert_eq!((stats.depth, stats.pending, stats.dead_letters), (0, 0, 0));
}

#[tokio::test]
async fn dropping_a_waiting_next_loses_no_entry() {
    let redis = TestRedis::new();
    let q = queue(redis.options.clone()).await;
    for _ in 0..3 {
        // Each drop leaves an XREADGROUP BLOCK behind that may still take the entry below.
        assert!(tokio::time::timeout(Duration::from_millis(30), q.next(10)).await.is_err());
    }
    q.enqueue(batch("x", 1)).await.unwrap();
    let got = next_ids(&q, 10).await;
    assert_eq!(got.iter().map(|g| g.1.as_str()).collect::<Vec<_>>(), vec!["x"]);
}

#[tokio::test]
async fn an_entry_that_keeps_failing_ends_in_the_dead_letter_stream_and_can_be_replayed() {
    // Arrange: max_deliveries = 2.
    let redis = TestRedis::new();
    let q = queue(RedisOptions { max_deliveries: 2, ..redis.options.clone() }).await;
    q.enqueue(batch("poison", 4)).await.unwrap();

    // Act: a worker that never acknowledges (it keeps failing to store the batch).
    assert_eq!(next_ids(&q, 100).await[0].1, "poison");
    assert_eq!(next_ids(&q, 100).await[0].1, "poison", "redelivered after claim_idle");
    let stats = eventually(WAIT, "the dead letter", || async {
        // A third delivery is refused: next moves it aside and keeps waiting for new entries.
        let _ = tokio::time::timeout(Duration::from_millis(50), q.next(100)).await;
        let s = q.stats().await.unwrap();
        (s.dead_letters == 1).then_some(s)
    })
    .await;

    // Assert
    assert_eq!((stats.depth, stats.pending, stats.oldest_pending_age), (0, 0, None));
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason, "not acknowledged after 2 deliveries");
    assert_eq!(dead[0].batch.as_ref().map(|b| b.request_id.as_str()), Some("poison"));
    assert_eq!(dead[0].batch.as_ref().map(|b| b.samples.len()), Some(4));

    // Replay puts it back with a fresh delivery count.
    assert_eq!(q.replay_dead_letters(&[dead[0].id.clone(), "0-1".into()]).await.unwrap(), 1);
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.depth, stats.dead_letters), (1, 0));
    let again = next_ids(&q, 100).await;
    assert_eq!(again[0].1, "poison");
    q.ack(&[again[0].0.clone()]).await.unwrap();
    assert_eq!(q.stats().await.unwrap().depth, 0);
}

#[tokio::test]
async fn an_undecodable_entry_goes_straight_to_the_dead_letters_and_can_be_dropped() {
    let redis = TestRedis::new();
    let q = queue(redis.options.clone()).await;
    let _: String = redis::cmd("XADD")
        .arg(redis.options.ingest_key())
        .arg("*")
        .arg("b")
        .arg("{not json")
        .query(&mut redis.raw())
        .unwrap();
    q.enqueue(batch("good", 1)).await.unwrap();
    assert_eq!(next_ids(&q, 100).await.iter().map(|g| g.1.as_str()).collect::<Vec<_>>(), vec!["good"]);
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].reason.starts_with("undecodable"), "{}", dead[0].reason);
    assert_eq!((dead[0].batch.is_none(), dead[0].payload_bytes), (true, 9));
    assert_eq!(q.drop_dead_letters(&[dead[0].id.clone()]).await.unwrap(), 1);
    assert_eq!(q.stats().await.unwrap().dead_letters, 0);
}

#[tokio::test]
async fn two_consumers_in_one_group_share_the_entries_without_duplicates() {
    let redis = TestRedis::new();
    let producer = queue(redis.options.clone()).await;
    let total = 200;
    for i in 0..total {
        producer.enqueue(batch(&format!("r{i}"), 1)).await.unwrap();
    }
    let run = |q: Arc<RedisIngestQueue>, taken: Arc<std::sync::Mutex<usize>>| async move {
        let mut mine = Vec::new();
        while *taken.lock().unwrap() < total {
            let Ok(got) = tokio::time::timeout(Duration::from_millis(300), q.next(5)).await else { continue };
            let got = got.unwrap().unwrap();
            *taken.lock().unwrap() += got.len();
            q.ack(&got.iter().map(|d| d.id.clone()).collect::<Vec<_>>()).await.unwrap();
            mine.extend(got.into_iter().map(|d| d.batch.request_id));
            tokio::task::yield_now().await;
        }
        mine
    };
    let taken = Arc::new(std::sync::Mutex::new(0));
    let a = tokio::spawn(run(Arc::new(queue(redis.consumer("a")).await), taken.clone()));
    let b = tokio::spawn(run(Arc::new(queue(redis.consumer("b")).await), taken.clone()));
    let (a, b) =
        tokio::time::timeout(Duration::from_secs(20), async { (a.await.unwrap(), b.await.unwrap()) })
            .await
            .expect("all entries consumed in time");
    assert!(!a.is_empty() && !b.is_empty(), "both consumers got entries: {} / {}", a.len(), b.len());
    let all: HashSet<_> = a.iter().chain(&b).cloned().collect();
    assert_eq!(a.len() + b.len(), total, "no entry delivered twice");
    assert_eq!(all.len(), total, "every entry delivered");
}

#[tokio::test]
async fn closing_refuses_new_batches_and_ends_the_consumer() {
    let redis = TestRedis::new();
    let q = Arc::new(queue(redis.options.clone()).await);
    let waiting = tokio::spawn({
        let q = q.clone();
        async move { q.next(10).await }
    });
    // The consumer is blocked on Redis; closing wakes it.
    eventually(WAIT, "the consumer group", || async {
        let groups: redis::RedisResult<redis::Value> =
            redis::cmd("XINFO").arg("GROUPS").arg(redis.options.ingest_key()).query(&mut redis.raw());
        groups.ok()
    })
    .await;
    q.close();
    let ended = tokio::time::timeout(WAIT, waiting).await.expect("woken").unwrap();
    assert!(matches!(ended, Ok(None)), "{ended:?}");
    assert!(matches!(q.enqueue(batch("late", 1)).await, Err(QueueError::Closed)));
}

#[tokio::test]
async fn the_health_check_pings_redis() {
    let redis = TestRedis::new();
    let q = queue(redis.options.clone()).await;
    assert_eq!(q.component(), "redis");
    q.check().await.unwrap();
}

#[tokio::test]
async fn connecting_to_an_unreachable_redis_fails() {
    let options = RedisOptions { url: "redis://127.0.0.1:1".into(), ..TestRedis::new().options.clone() };
    assert!(RedisIngestQueue::connect(options).await.is_err());
}

#[tokio::test]
async fn a_rejected_delivery_goes_to_the_dead_letters_at_once_with_its_reason() {
    let redis = TestRedis::new();
    let q = queue(redis.options.clone()).await;
    q.enqueue(batch("bad", 2)).await.unwrap();
    q.enqueue(batch("good", 1)).await.unwrap();
    let got = next_ids(&q, 1).await;
    assert_eq!(got[0].1, "bad");
    q.reject(&got[0].0, "the store refused the batch: value out of range").await.unwrap();

    let letters = q.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].original_id, got[0].0);
    assert!(letters[0].reason.contains("value out of range"));
    assert_eq!(letters[0].batch.as_ref().map(|b| b.samples.len()), Some(2), "the whole batch is kept");
    assert_eq!(next_ids(&q, 10).await[0].1, "good", "the rest goes on");
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.depth, stats.dead_letters), (1, 1), "the rejected entry left the stream");
}

#[tokio::test]
async fn a_worker_that_extends_its_claim_keeps_its_batches_while_it_retries() {
    let redis = TestRedis::new();
    // A claim lapses after 2 s; it is extended every 400 ms, a wide margin on a busy machine.
    let claim = |name: &str| RedisOptions { claim_idle: Duration::from_secs(2), ..redis.consumer(name) };
    let slow = queue(claim("slow")).await;
    let other = queue(claim("other")).await;
    slow.enqueue(batch("r0", 1)).await.unwrap();
    let held = next_ids(&slow, 10).await;
    let ids: Vec<String> = held.iter().map(|(id, _)| id.clone()).collect();

    // Well past claim_idle, but extended: nobody else gets it.
    let watcher = tokio::spawn(async move {
        let got = tokio::time::timeout(Duration::from_secs(5), other.next(10)).await.is_ok();
        (got, other)
    });
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        slow.extend(&ids).await.unwrap();
    }
    let (got, other) = watcher.await.unwrap();
    assert!(!got, "the other worker got nothing while the claim was extended");

    // No longer extended, the claim lapses and the other worker takes the batch over.
    let taken =
        tokio::time::timeout(Duration::from_secs(10), other.next(10)).await.expect("in time").unwrap();
    let taken: Vec<String> = taken.expect("open").into_iter().map(|d| d.id).collect();
    assert_eq!(taken, ids, "the lapsed claim went to the other worker");
    other.ack(&ids).await.unwrap();
    assert_eq!(other.stats().await.unwrap().depth, 0);
}
