//! The port contract suite: behaviour every adapter of a port must show, written once and run
//! by each adapter crate's tests (memory, SQLite, and later MariaDB and Redis) so that the
//! embedded and the production deployments behave the same.
//!
//! Each function panics with a message saying which rule broke. Functions that need tenants
//! create their own with unique slugs, so they can share one database.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use microdash_domain::sample::SeriesKey;
use microdash_domain::tenant::NewTenant;
use microdash_domain::token::TokenHash;
use microdash_domain::{AgentId, DedupeId, MetricName, Sample, Tags, Tenant, TenantSlug, Timestamp};

use super::*;

mod history;
pub use history::*;

const T0: i64 = 1_795_000_000_000;

fn unique_slug(prefix: &str) -> TenantSlug {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    TenantSlug::new(format!("{prefix}-{}-{nanos}-{n}", std::process::id())).unwrap()
}

/// Creates a tenant with a unique slug.
pub async fn new_tenant(tenants: &dyn TenantRepo, prefix: &str) -> Tenant {
    let slug = unique_slug(prefix);
    tenants
        .create(NewTenant { name: format!("Tenant {slug}"), slug }, Timestamp::from_millis(T0))
        .await
        .expect("create tenant")
}

/// A sample of `metric` for `agent` at `T0 + offset_ms`.
pub fn sample(metric: &str, agent: Option<&str>, offset_ms: i64, value: f64) -> Sample {
    Sample {
        series: SeriesKey {
            metric: MetricName::new(metric).unwrap(),
            agent: agent.map(|a| AgentId::new(a).unwrap()),
            tags: Tags::empty(),
        },
        value,
        timestamp: Timestamp::from_millis(T0 + offset_ms),
        dedupe_id: None,
    }
}

fn with_dedupe(mut s: Sample, id: &str) -> Sample {
    s.dedupe_id = Some(DedupeId::new(id).unwrap());
    s
}

fn with_tags(mut s: Sample, tags: &[(&str, &str)]) -> Sample {
    let map: BTreeMap<String, String> = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    s.series.tags = Tags::new(map).unwrap();
    s
}

fn all(metric: &str) -> RawQuery {
    RawQuery {
        metric: MetricName::new(metric).unwrap(),
        agent: None,
        tags: Tags::empty(),
        start: Timestamp::from_millis(T0 - 86_400_000),
        end: Timestamp::from_millis(T0 + 86_400_000),
        limit: 10_000,
    }
}

fn values(r: &RawQueryResult) -> Vec<f64> {
    r.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).collect()
}

/// Tenants: create, find, list, unique slugs, quotas.
pub async fn tenant_repo_creates_finds_and_refuses_duplicate_slugs(tenants: &dyn TenantRepo) {
    let t = new_tenant(tenants, "tr").await;
    assert_eq!(t.samples_per_minute, microdash_domain::tenant::DEFAULT_SAMPLES_PER_MINUTE);
    assert_eq!(t.retention, microdash_domain::Retention::default());
    let found = tenants.find_by_slug(&t.slug).await.unwrap().expect("tenant found by slug");
    assert_eq!(found, t);
    assert!(tenants.find_by_slug(&unique_slug("nope")).await.unwrap().is_none());
    let dup = tenants
        .create(NewTenant { slug: t.slug.clone(), name: "x".into() }, Timestamp::from_millis(T0))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "duplicate slug must conflict: {dup:?}");
    assert!(tenants.list().await.unwrap().iter().any(|x| x.id == t.id));
    tenants.set_quota(t.id, 42).await.unwrap();
    assert_eq!(tenants.find_by_slug(&t.slug).await.unwrap().unwrap().samples_per_minute, 42);
    let missing = tenants.set_quota(microdash_domain::TenantId::new(i64::MAX), 1).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
}

/// Tokens: found by hash with their tenant until revoked; listed per tenant.
pub async fn token_repo_finds_active_tokens_by_hash_and_honours_revocation(
    tenants: &dyn TenantRepo,
    tokens: &dyn TokenRepo,
) {
    let a = new_tenant(tenants, "tka").await;
    let b = new_tenant(tenants, "tkb").await;
    let hash =
        TokenHash(format!("{:064x}", a.id.get()).chars().rev().collect::<String>() + &a.slug.to_string());
    let new = NewToken {
        tenant_id: a.id,
        name: "ci".into(),
        display_prefix: "mdt_abcdefgh".into(),
        hash: hash.clone(),
    };
    let tok = tokens.create(new, Timestamp::from_millis(T0)).await.unwrap();
    assert_eq!(tok.display_prefix, "mdt_abcdefgh");
    assert_eq!(tok.last_used_at, None);
    let (found, tenant) = tokens.find_active_by_hash(&hash).await.unwrap().expect("active token found");
    assert_eq!((found.id, tenant.id), (tok.id, a.id));
    assert!(tokens.find_active_by_hash(&TokenHash("0".repeat(64))).await.unwrap().is_none());

    tokens.touch(tok.id, Timestamp::from_millis(T0 + 5)).await.unwrap();
    let listed = tokens.list(a.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_used_at, Some(Timestamp::from_millis(T0 + 5)));
    assert!(tokens.list(b.id).await.unwrap().is_empty(), "tokens are listed per tenant only");

    let revoked = tokens.revoke(tok.id, Timestamp::from_millis(T0 + 10)).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(Timestamp::from_millis(T0 + 10)));
    assert!(
        tokens.find_active_by_hash(&hash).await.unwrap().is_none(),
        "revoked tokens authenticate nothing"
    );
    assert_eq!(tokens.list(a.id).await.unwrap()[0].revoked_at, Some(Timestamp::from_millis(T0 + 10)));
    let missing = tokens.revoke(microdash_domain::TokenId::new(i64::MAX), Timestamp::from_millis(T0)).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
}

/// Samples come back in time order, per series, only for the tenant that stored them.
pub async fn sample_store_round_trips_per_series_and_isolates_tenants(
    tenants: &dyn TenantRepo,
    store: &dyn SampleStore,
) {
    let a = new_tenant(tenants, "ssa").await;
    let b = new_tenant(tenants, "ssb").await;
    let batch = vec![
        sample("cpu", Some("h2"), 20, 2.0),
        sample("cpu", Some("h1"), 10, 1.0),
        sample("cpu", Some("h1"), 0, 0.5),
        with_tags(sample("cpu", Some("h1"), 5, 9.0), &[("core", "1")]),
        sample("mem", None, 0, 100.0),
    ];
    let ins = store.insert_batch(a.id, &batch).await.unwrap();
    assert_eq!(ins, Inserted { stored: 5, duplicates: vec![] });

    let r = store.query_raw(a.id, &all("cpu")).await.unwrap();
    assert_eq!(r.total, 4);
    assert!(!r.truncated);
    let shape: Vec<_> = r
        .series
        .iter()
        .map(|s| (s.agent.as_ref().map(|a| a.to_string()), s.tags.iter().count(), s.points.len()))
        .collect();
    assert_eq!(shape, vec![(Some("h1".into()), 0, 2), (Some("h1".into()), 1, 1), (Some("h2".into()), 0, 1)]);
    assert_eq!(
        r.series[0].points,
        vec![(Timestamp::from_millis(T0), 0.5), (Timestamp::from_millis(T0 + 10), 1.0)]
    );

    let mut only_h2 = all("cpu");
    only_h2.agent = Some(AgentId::new("h2").unwrap());
    assert_eq!(values(&store.query_raw(a.id, &only_h2).await.unwrap()), vec![2.0]);

    let names: Vec<String> = store.metric_names(a.id).await.unwrap().iter().map(|m| m.to_string()).collect();
    assert_eq!(names, vec!["cpu", "mem"]);

    // Tenant b sees nothing of a's.
    assert_eq!(store.query_raw(b.id, &all("cpu")).await.unwrap(), RawQueryResult::default());
    assert!(store.metric_names(b.id).await.unwrap().is_empty());
}

/// The range is inclusive at both ends and `limit` returns the earliest points, saying so.
pub async fn sample_store_query_honours_range_and_limit(tenants: &dyn TenantRepo, store: &dyn SampleStore) {
    let t = new_tenant(tenants, "ssr").await;
    let batch: Vec<_> = (0..10).map(|i| sample("m", Some("a"), i * 1000, i as f64)).collect();
    store.insert_batch(t.id, &batch).await.unwrap();
    let mut q = all("m");
    q.start = Timestamp::from_millis(T0 + 2000);
    q.end = Timestamp::from_millis(T0 + 5000);
    let r = store.query_raw(t.id, &q).await.unwrap();
    assert_eq!(values(&r), vec![2.0, 3.0, 4.0, 5.0], "start and end are inclusive");
    q.limit = 3;
    let r = store.query_raw(t.id, &q).await.unwrap();
    assert_eq!(values(&r), vec![2.0, 3.0, 4.0]);
    assert_eq!((r.total, r.truncated), (4, true));
}

/// A dedupe id is stored once per tenant; another tenant may use the same id; the same series
/// and millisecond replaces the value.
pub async fn sample_store_dedupes_per_tenant_and_replaces_same_millisecond(
    tenants: &dyn TenantRepo,
    store: &dyn SampleStore,
) {
    let a = new_tenant(tenants, "sda").await;
    let b = new_tenant(tenants, "sdb").await;
    let first = vec![
        with_dedupe(sample("m", Some("x"), 0, 1.0), "d-1"),
        with_dedupe(sample("m", Some("x"), 1, 2.0), "d-2"),
    ];
    assert_eq!(store.insert_batch(a.id, &first).await.unwrap().stored, 2);

    // A replay of d-1 (with another timestamp even) and a new d-3 in one batch.
    let replay = vec![
        with_dedupe(sample("m", Some("x"), 50, 7.0), "d-1"),
        with_dedupe(sample("m", Some("x"), 2, 3.0), "d-3"),
    ];
    let ins = store.insert_batch(a.id, &replay).await.unwrap();
    assert_eq!(ins, Inserted { stored: 1, duplicates: vec![0] });
    assert_eq!(values(&store.query_raw(a.id, &all("m")).await.unwrap()), vec![1.0, 2.0, 3.0]);

    // The same dedupe id in one batch twice: stored once.
    let twice = vec![
        with_dedupe(sample("m", Some("x"), 3, 4.0), "d-4"),
        with_dedupe(sample("m", Some("x"), 4, 5.0), "d-4"),
    ];
    assert_eq!(store.insert_batch(a.id, &twice).await.unwrap(), Inserted { stored: 1, duplicates: vec![1] });

    // Tenant b's d-1 is its own.
    let ins = store.insert_batch(b.id, &[with_dedupe(sample("m", Some("x"), 0, 9.0), "d-1")]).await.unwrap();
    assert_eq!(ins.stored, 1);

    // Same series and millisecond without a dedupe id: last write wins.
    store.insert_batch(b.id, &[sample("m", Some("x"), 0, 10.0)]).await.unwrap();
    assert_eq!(values(&store.query_raw(b.id, &all("m")).await.unwrap()), vec![10.0]);
}

/// Agents: first/last seen, sample counts, per tenant.
pub async fn agent_registry_tracks_last_seen_and_counts_per_tenant(
    tenants: &dyn TenantRepo,
    agents: &dyn AgentRegistry,
) {
    let a = new_tenant(tenants, "ara").await;
    let b = new_tenant(tenants, "arb").await;
    let seen = |agent: &str, at: i64, n: u64| AgentSeen {
        agent: AgentId::new(agent).unwrap(),
        received_at: Timestamp::from_millis(T0 + at),
        last_sample_at: Timestamp::from_millis(T0 + at - 1),
        samples: n,
    };
    agents.record(a.id, &[seen("h1", 100, 3), seen("h2", 100, 1)]).await.unwrap();
    agents.record(a.id, &[seen("h1", 200, 2)]).await.unwrap();
    agents.record(a.id, &[seen("h1", 150, 1)]).await.unwrap(); // late: last_seen stays 200
    let list = agents.list(a.id).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].agent.as_str(), "h1");
    assert_eq!(list[0].first_seen, Timestamp::from_millis(T0 + 100));
    assert_eq!(list[0].last_seen, Timestamp::from_millis(T0 + 200));
    assert_eq!(list[0].last_sample_at, Timestamp::from_millis(T0 + 199));
    assert_eq!(list[0].samples, 6);
    assert!(agents.list(b.id).await.unwrap().is_empty(), "agents are per tenant");
}

/// The live bus delivers a tenant's samples to that tenant's subscribers only, numbered one
/// after the other from where the subscription started.
pub async fn live_bus_delivers_to_the_tenants_subscribers_only(bus: &dyn LiveBus) {
    let a = microdash_domain::TenantId::new(9_000_001);
    let b = microdash_domain::TenantId::new(9_000_002);
    let mut sub_a = bus.subscribe(a).await.unwrap();
    let mut sub_b = bus.subscribe(b).await.unwrap();
    let samples = Arc::new(vec![sample("m", None, 0, 1.0)]);
    bus.publish(a, samples.clone()).await.unwrap();
    let got =
        tokio::time::timeout(Duration::from_secs(5), sub_a.messages.next()).await.expect("delivered in time");
    let first_id = match got {
        Some(LiveMessage::Samples { id, samples: got }) if got == samples => id,
        other => panic!("expected the published samples, got {other:?}"),
    };
    assert!(first_id > sub_a.last_id, "ids increase: {first_id} after {}", sub_a.last_id);
    let other = tokio::time::timeout(Duration::from_millis(100), sub_b.messages.next()).await;
    assert!(other.is_err(), "tenant b must receive nothing: {other:?}");
}

/// Live message ids are per tenant and consecutive, so that every node names a message the
/// same way and a gap shows as a jump; a later subscription starts where the ids are.
pub async fn live_bus_numbers_each_tenants_messages_consecutively(bus: &dyn LiveBus) {
    let a = microdash_domain::TenantId::new(9_000_011);
    let b = microdash_domain::TenantId::new(9_000_012);
    let mut sub_a = bus.subscribe(a).await.unwrap();
    let mut sub_b = bus.subscribe(b).await.unwrap();
    for i in 0..3 {
        bus.publish(a, Arc::new(vec![sample("m", None, i, 1.0)])).await.unwrap();
    }
    bus.publish(b, Arc::new(vec![sample("m", None, 0, 1.0)])).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        match tokio::time::timeout(Duration::from_secs(5), sub_a.messages.next()).await.expect("in time") {
            Some(LiveMessage::Samples { id, .. }) => ids.push(id),
            other => panic!("expected samples, got {other:?}"),
        }
    }
    assert_eq!(ids, [ids[0], ids[0] + 1, ids[0] + 2], "consecutive ids");
    let Some(LiveMessage::Samples { id: b_id, .. }) = sub_b.messages.next().await else {
        panic!("b's message")
    };
    assert!(b_id > sub_b.last_id, "tenant b has its own counter");

    let late = bus.subscribe(a).await.unwrap();
    assert_eq!(late.last_id, ids[2], "a new subscription knows the last id");
    bus.publish(a, Arc::new(vec![sample("m", None, 9, 1.0)])).await.unwrap();
    let mut late = late.messages;
    let Some(LiveMessage::Samples { id, .. }) =
        tokio::time::timeout(Duration::from_secs(5), late.next()).await.expect("in time")
    else {
        panic!("the next message");
    };
    assert_eq!(id, ids[2] + 1, "and gets exactly what follows, nothing before");
}

/// Budgets are per key, refill over the minute, and deny with a useful wait.
pub async fn rate_limiter_grants_up_to_the_budget_then_denies(limiter: &dyn RateLimiter) {
    let key = format!("contract:{}", unique_slug("rl"));
    assert_eq!(limiter.acquire(&key, 60, 100).await.unwrap(), Admission::Granted);
    assert_eq!(limiter.acquire(&key, 40, 100).await.unwrap(), Admission::Granted);
    match limiter.acquire(&key, 30, 100).await.unwrap() {
        Admission::Denied { retry_after } => {
            assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(60), "{retry_after:?}")
        }
        Admission::Granted => panic!("budget exhausted, must deny"),
    }
    let other = format!("{key}:other");
    assert_eq!(limiter.acquire(&other, 100, 100).await.unwrap(), Admission::Granted, "keys are independent");
    assert!(matches!(
        limiter.acquire(&format!("{key}:big"), 101, 100).await.unwrap(),
        Admission::Denied { .. }
    ));
}

/// A refund gives back what was taken, never more than one minute's worth.
pub async fn rate_limiter_refunds_up_to_the_budget(limiter: &dyn RateLimiter) {
    let key = format!("contract:{}", unique_slug("rf"));
    assert_eq!(limiter.acquire(&key, 100, 100).await.unwrap(), Admission::Granted);
    assert!(matches!(limiter.acquire(&key, 40, 100).await.unwrap(), Admission::Denied { .. }));
    limiter.refund(&key, 40, 100).await.unwrap();
    assert_eq!(limiter.acquire(&key, 40, 100).await.unwrap(), Admission::Granted, "the refund is spendable");
    assert!(matches!(limiter.acquire(&key, 30, 100).await.unwrap(), Admission::Denied { .. }));
    for _ in 0..3 {
        limiter.refund(&key, 100, 100).await.unwrap();
    }
    assert_eq!(limiter.acquire(&key, 100, 100).await.unwrap(), Admission::Granted);
    assert!(
        matches!(limiter.acquire(&key, 5, 100).await.unwrap(), Admission::Denied { .. }),
        "capped at 100"
    );
}

/// Batches come out in order, are acknowledged, and the consumer sees them all.
pub async fn ingest_queue_delivers_every_batch_in_order(
    queue: &dyn IngestQueue,
    consumer: &dyn IngestConsumer,
) {
    for i in 0..3 {
        let batch = IngestBatch {
            request_id: format!("r{i}"),
            tenant: microdash_domain::TenantId::new(1),
            received_at: Timestamp::from_millis(T0),
            samples: vec![sample("m", None, i, i as f64)],
        };
        queue.enqueue(batch).await.unwrap();
    }
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let got = tokio::time::timeout(Duration::from_secs(5), consumer.next(1000)).await.expect("in time");
        let got = got.unwrap().expect("queue open");
        consumer.ack(&got.iter().map(|d| d.id.clone()).collect::<Vec<_>>()).await.unwrap();
        seen.extend(got.into_iter().map(|d| d.batch.request_id));
    }
    assert_eq!(seen, vec!["r0", "r1", "r2"]);
}
