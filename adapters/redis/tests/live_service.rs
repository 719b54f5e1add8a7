//! Live viewers across api nodes: two `LiveService`s, each on its own `RedisLiveBus`
//! connection (two nodes), fed by a third connection playing the worker.

#[allow(dead_code)]
#[path = "support/redis.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use microdash_adapter_redis::RedisLiveBus;
use microdash_domain::sample::SeriesKey;
use microdash_domain::{AgentId, MetricName, Sample, Tags, TenantId, TenantSlug, Timestamp};
use microdash_usecases::live::{LiveEvent, LiveFilter, LiveItem, LiveStream};
use microdash_usecases::ports::{Clock, LiveBus};
use microdash_usecases::{LiveOptions, LiveService, Signer, Viewer};
use support::TestRedis;

const WAIT: Duration = Duration::from_secs(5);
const NOW: i64 = 1_795_000_000_000;

struct Fixed;

impl Clock for Fixed {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(NOW)
    }
}

/// An api node: its own connection to Redis, the deployment's shared secret.
async fn node(redis: &TestRedis) -> LiveService {
    let bus = RedisLiveBus::connect(redis.options.clone(), 1024).await.unwrap();
    LiveService::new(
        Arc::new(bus),
        Arc::new(Fixed),
        Signer::new(b"deployment secret"),
        LiveOptions::default(),
    )
}

fn acme() -> Viewer {
    Viewer { tenant: TenantId::new(7), slug: TenantSlug::new("acme").unwrap() }
}

fn cpu(value: f64) -> Arc<Vec<Sample>> {
    let series = SeriesKey {
        metric: MetricName::new("cpu").unwrap(),
        agent: Some(AgentId::new("h1").unwrap()),
        tags: Tags::empty(),
    };
    Arc::new(vec![Sample { series, value, timestamp: Timestamp::from_millis(NOW), dedupe_id: None }])
}

async fn open(node: &LiveService, viewer: &Viewer, resume: Option<u64>) -> LiveStream {
    node.open(viewer, viewer.slug.as_str(), LiveFilter::default(), resume).await.unwrap()
}

async fn next(stream: &mut LiveStream) -> LiveEvent {
    match tokio::time::timeout(WAIT, stream.next()).await.expect("in time") {
        Some(LiveItem::Samples(e)) => e,
        other => panic!("expected samples, got {other:?}"),
    }
}

#[tokio::test]
async fn both_nodes_deliver_the_same_events_under_the_same_ids_and_honour_each_others_tickets() {
    // Arrange
    let redis = TestRedis::new();
    let (a, b) = (node(&redis).await, node(&redis).await);
    let worker = RedisLiveBus::connect(redis.options.clone(), 16).await.unwrap();
    let ticket = a.issue_ticket(&acme());

    // Act
    let viewer = b.redeem_ticket(&ticket.ticket).expect("a ticket from node a works on node b");
    let mut on_a = open(&a, &acme(), None).await;
    let mut on_b = open(&b, &viewer, None).await;
    let other = Viewer { tenant: TenantId::new(8), slug: TenantSlug::new("other").unwrap() };
    let mut others = open(&b, &other, None).await;
    for v in 0..3 {
        worker.publish(acme().tenant, cpu(f64::from(v))).await.unwrap();
    }
    worker.publish(other.tenant, cpu(42.0)).await.unwrap();

    // Assert
    for _ in 0..3 {
        let (x, y) = (next(&mut on_a).await, next(&mut on_b).await);
        assert_eq!(x, y, "same id, same samples on both nodes");
    }
    assert!(b.open(&viewer, "other", LiveFilter::default(), None).await.is_err(), "bound to its tenant");
    let first = next(&mut others).await;
    assert_eq!(first.samples[0].value, 42.0, "the other tenant's first event is its own: nothing crosses");
}

#[tokio::test]
async fn a_viewer_resumes_on_another_node_without_losing_or_repeating_samples() {
    let redis = TestRedis::new();
    let (a, b) = (node(&redis).await, node(&redis).await);
    let worker = RedisLiveBus::connect(redis.options.clone(), 16).await.unwrap();
    let mut on_a = open(&a, &acme(), None).await;
    let mut watching_b = open(&b, &acme(), None).await;
    worker.publish(acme().tenant, cpu(1.0)).await.unwrap();
    let seen = next(&mut on_a).await;
    assert_eq!(next(&mut watching_b).await, seen);
    drop(on_a); // the browser loses its connection to node a

    worker.publish(acme().tenant, cpu(2.0)).await.unwrap();
    worker.publish(acme().tenant, cpu(3.0)).await.unwrap();
    let missed = [next(&mut watching_b).await, next(&mut watching_b).await];
    // The load balancer sends the reconnection to node b.
    let mut resumed = open(&b, &acme(), Some(seen.id)).await;
    worker.publish(acme().tenant, cpu(4.0)).await.unwrap();

    let got = [next(&mut resumed).await, next(&mut resumed).await, next(&mut resumed).await];
    assert_eq!(got[..2], missed, "exactly the missed events, replayed from node b's buffer");
    assert_eq!(got[2].id, seen.id + 3, "then live");
    let polled = b.poll(&acme(), LiveFilter::default(), Some(seen.id), Duration::ZERO).await.unwrap();
    assert_eq!(polled.events, got, "the long-poll fallback gives the same events and ids");
}
