//! `RedisLiveBus` beyond the contract: across api nodes, lagging viewers, one connection.

#[allow(dead_code)]
#[path = "support/redis.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use microdash_adapter_redis::RedisLiveBus;
use microdash_domain::sample::SeriesKey;
use microdash_domain::{AgentId, MetricName, Sample, Tags, TenantId, Timestamp};
use microdash_usecases::ports::{LiveBus, LiveMessage};
use support::{TestRedis, eventually};

const WAIT: Duration = Duration::from_secs(5);

fn samples(value: f64) -> Arc<Vec<Sample>> {
    let series = SeriesKey {
        metric: MetricName::new("cpu").unwrap(),
        agent: Some(AgentId::new("h1").unwrap()),
        tags: Tags::empty(),
    };
    Arc::new(vec![Sample { series, value, timestamp: Timestamp::from_millis(1_000), dedupe_id: None }])
}

#[tokio::test]
async fn samples_published_on_one_node_reach_viewers_on_another() {
    let redis = TestRedis::new();
    let api = RedisLiveBus::connect(redis.options.clone(), 16).await.unwrap();
    let worker = RedisLiveBus::connect(redis.options.clone(), 16).await.unwrap();
    let tenant = TenantId::new(1);
    let mut first = api.subscribe(tenant).await.unwrap();
    let mut second = api.subscribe(tenant).await.unwrap();

    worker.publish(tenant, samples(1.0)).await.unwrap();
    worker.publish(tenant, samples(2.0)).await.unwrap();

    let mut seen = Vec::new();
    for viewer in [&mut first.messages, &mut second.messages] {
        let got: Vec<_> =
            tokio::time::timeout(WAIT, viewer.take(2).collect::<Vec<_>>()).await.expect("in time");
        seen.push(got);
    }
    assert_eq!(first.last_id, 0, "nothing was published before");
    let Some(LiveMessage::Samples { id, .. }) = seen[0].first().cloned() else { panic!("{seen:?}") };
    assert!(id > 1_700_000_000_000_000, "the first id starts from the time in microseconds: {id}");
    let expected = vec![
        LiveMessage::Samples { id, samples: samples(1.0) },
        LiveMessage::Samples { id: id + 1, samples: samples(2.0) },
    ];
    assert_eq!(seen, vec![expected.clone(), expected], "both viewers, same ids");
}

#[tokio::test]
async fn ids_mean_the_same_message_on_every_node_and_survive_a_new_subscription() {
    let redis = TestRedis::new();
    let (node_a, node_b) = (
        RedisLiveBus::connect(redis.options.clone(), 16).await.unwrap(),
        RedisLiveBus::connect(redis.options.clone(), 16).await.unwrap(),
    );
    let worker = RedisLiveBus::connect(redis.options.clone(), 16).await.unwrap();
    let tenant = TenantId::new(3);
    worker.publish(tenant, samples(0.0)).await.unwrap();
    let mut on_a = node_a.subscribe(tenant).await.unwrap();
    worker.publish(tenant, samples(1.0)).await.unwrap();
    let mut on_b = node_b.subscribe(tenant).await.unwrap();
    assert_eq!(on_b.last_id, on_a.last_id + 1, "node b subscribed after the second message");
    worker.publish(tenant, samples(2.0)).await.unwrap();

    let a: Vec<_> =
        tokio::time::timeout(WAIT, on_a.messages.by_ref().take(2).collect::<Vec<_>>()).await.unwrap();
    let b = tokio::time::timeout(WAIT, on_b.messages.next()).await.unwrap().unwrap();
    assert_eq!(a[1], b, "the third message has the same id on both nodes");
    assert_eq!(b, LiveMessage::Samples { id: on_a.last_id + 2, samples: samples(2.0) });
}

#[tokio::test]
async fn a_lost_counter_starts_again_above_every_id_given_before() {
    let redis = TestRedis::new();
    let bus = RedisLiveBus::connect(redis.options.clone(), 16).await.unwrap();
    let tenant = TenantId::new(4);
    bus.publish(tenant, samples(0.0)).await.unwrap();
    let before = bus.subscribe(tenant).await.unwrap().last_id;
    let counter = format!("{}live:4:seq", redis.options.key_prefix);
    let _: () = redis::cmd("DEL").arg(&counter).query(&mut redis.raw()).unwrap();

    let mut sub = bus.subscribe(tenant).await.unwrap();
    assert_eq!(sub.last_id, 0, "the counter is gone");
    bus.publish(tenant, samples(1.0)).await.unwrap();
    let Some(LiveMessage::Samples { id, .. }) =
        tokio::time::timeout(WAIT, sub.messages.next()).await.unwrap()
    else {
        panic!("expected samples")
    };
    assert!(id > before + 1, "a jump, never a repeat: {id} after {before}");
}

#[tokio::test]
async fn a_node_holds_one_pubsub_connection_however_many_viewers() {
    let redis = TestRedis::new();
    let api = RedisLiveBus::connect(redis.options.clone(), 16).await.unwrap();
    let mut viewers = Vec::new();
    for t in 0..5 {
        for _ in 0..3 {
            viewers.push(api.subscribe(TenantId::new(t)).await.unwrap());
        }
    }
    let pattern = format!("{}live:*", redis.options.key_prefix);
    let channels: Vec<String> =
        redis::cmd("PUBSUB").arg("CHANNELS").arg(&pattern).query(&mut redis.raw()).unwrap();
    assert_eq!(channels.len(), 5, "one Redis subscription per tenant");
    let counts: Vec<(String, u64)> =
        redis::cmd("PUBSUB").arg("NUMSUB").arg(&channels).query(&mut redis.raw()).unwrap();
    assert!(counts.iter().all(|(_, n)| *n == 1), "one subscriber connection per channel: {counts:?}");

    // When its viewers leave, the node unsubscribes (on the next message for that tenant).
    drop(viewers);
    let worker = RedisLiveBus::connect(redis.options.clone(), 16).await.unwrap();
    eventually(WAIT, "the unsubscription", || async {
        worker.publish(TenantId::new(0), samples(0.0)).await.unwrap();
        let channels: Vec<String> =
            redis::cmd("PUBSUB").arg("CHANNELS").arg(&pattern).query(&mut redis.raw()).unwrap();
        (channels.len() == 4).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_viewer_that_falls_behind_is_told_how_much_it_missed() {
    let redis = TestRedis::new();
    let api = RedisLiveBus::connect(redis.options.clone(), 2).await.unwrap();
    let (slow_tenant, marker_tenant) = (TenantId::new(1), TenantId::new(2));
    let mut slow = api.subscribe(slow_tenant).await.unwrap();
    let mut marker = api.subscribe(marker_tenant).await.unwrap();
    for i in 0..10 {
        api.publish(slow_tenant, samples(f64::from(i))).await.unwrap();
    }
    // Messages arrive in order on the one connection: once the marker is here, all ten are.
    api.publish(marker_tenant, samples(0.0)).await.unwrap();
    tokio::time::timeout(WAIT, marker.messages.next()).await.expect("marker in time");

    let got: Vec<_> =
        tokio::time::timeout(WAIT, slow.messages.by_ref().take(3).collect::<Vec<_>>()).await.unwrap();
    let Some(LiveMessage::Samples { id, .. }) = got.get(1).cloned() else { panic!("{got:?}") };
    assert_eq!(
        got,
        vec![
            LiveMessage::Lagged(8),
            LiveMessage::Samples { id, samples: samples(8.0) },
            LiveMessage::Samples { id: id + 1, samples: samples(9.0) }
        ]
    );
}
