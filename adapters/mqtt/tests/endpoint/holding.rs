//! Batches the queue or the quota cannot take now are held, not dropped: the quota slows a
//! device down; a queue that stays unavailable past the hold ends the connection unacknowledged.

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use microdash_adapter_mqtt::EndpointOptions;
use rumqttc::mqttbytes::v4::Packet;

use crate::helpers::*;

#[tokio::test]
async fn a_message_over_the_quota_is_held_and_acknowledged_once_the_quota_refills() {
    let app = spawn_endpoint().await;
    app.admin.set_quota("alpha", 2).await.unwrap();
    let (mut raw, _) =
        Raw::connect(app.addr, Raw::connect_packet("q", "alpha", &app.alpha.token, 0, true)).await;
    let ts = app.now_ms() - 1_000;
    for pkid in 1..=3u16 {
        let payload = format!(r#"{{"value":{pkid},"timestamp":{}}}"#, ts + i64::from(pkid));
        raw.send(Packet::Publish(publish_with_id("metrics/alpha/d1/cpu", &payload, pkid))).await;
        if pkid < 3 {
            assert!(matches!(raw.recv().await, Some(Packet::PubAck(a)) if a.pkid == pkid));
        }
    }
    eventually("the third refused for quota", || app.limiter.denied.load(SeqCst) >= 1).await;
    raw.send(Packet::PingReq).await;
    assert_eq!(raw.recv().await, Some(Packet::PingResp), "the third waits for quota, unacknowledged");
    app.clock.advance(Duration::from_secs(30)); // one sample of a 2-per-minute quota is back
    assert!(matches!(raw.recv().await, Some(Packet::PubAck(a)) if a.pkid == 3));
    assert_eq!(app.stored_eventually(&app.alpha, "cpu", 3).await.len(), 3, "nothing was dropped");
}

#[tokio::test]
async fn a_queue_that_stays_unavailable_ends_the_connection_without_acknowledging() {
    let mut options = EndpointOptions::new("127.0.0.1:0".parse().unwrap());
    options.coalesce.max_hold = Duration::from_millis(300);
    let app = spawn_with(Setup { options, ..Setup::default() }).await;
    app.queue.set_open(false);
    let (mut raw, _) =
        Raw::connect(app.addr, Raw::connect_packet("q", "alpha", &app.alpha.token, 0, true)).await;
    raw.send(Packet::Publish(publish_with_id("metrics/alpha/d1/cpu", "1", 1))).await;
    assert_eq!(raw.recv().await, None, "closed, and no PUBACK came first: the client must resend");
    eventually("the failed batch counted", || {
        app.metrics.render().contains("batches_failed_total{source=\"endpoint\"} 1")
    })
    .await;
}
