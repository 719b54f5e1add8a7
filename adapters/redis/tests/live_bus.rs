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

    for viewer in [&mut first, &mut second] {
        let got: Vec<_> =
            tokio::time::timeout(WAIT, viewer.take(2).collect::<Vec<_>>()).await.expect("in time");
        assert_eq!(got, vec![LiveMessage::Samples(samples(1.0)), LiveMessage::Samples(samples(2.0))]);
    }
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
    tokio::time::timeout(WAIT, marker.next()).await.expect("marker in time");

    let got: Vec<_> = tokio::time::timeout(WAIT, slow.by_ref().take(3).collect::<Vec<_>>()).await.unwrap();
    assert_eq!(
        got,
        vec![LiveMessage::Lagged(8), LiveMessage::Samples(samples(8.0)), LiveMessage::Samples(samples(9.0))]
    );
}
