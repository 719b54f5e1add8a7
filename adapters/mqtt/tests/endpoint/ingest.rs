//! Both topic forms end in the store; PUBACK waits for the queue; coalescing; QoS 0; a QoS 1
//! redelivery with a dedupe id is stored once; the edge agent's own publishes.

use std::time::Duration;

use microdash_adapter_mqtt::EndpointOptions;
use microdash_domain::wire::OutgoingSample;
use rumqttc::QoS;
use rumqttc::mqttbytes::v4::{Packet, Publish};

use crate::helpers::*;

#[tokio::test]
async fn a_bare_number_on_a_metric_topic_is_stored_for_the_topics_agent_and_metric() {
    let app = spawn_endpoint().await;
    let mut dev = Device::connect(app.addr, "alpha", &app.alpha.token).await.unwrap();
    dev.publish("metrics/alpha/web-1/cpu.usage", "42.5").await;
    dev.pubacks(1).await;
    let points = app.stored_eventually(&app.alpha, "cpu.usage", 1).await;
    assert_eq!(points, vec![("web-1".to_owned(), app.now_ms(), 42.5)]);
}

#[tokio::test]
async fn an_object_on_a_metric_topic_keeps_its_timestamp() {
    let app = spawn_endpoint().await;
    let mut dev = Device::connect(app.addr, "alpha", &app.alpha.token).await.unwrap();
    let ts = app.now_ms() - 5_000;
    dev.publish(
        "metrics/alpha/web-1/mem",
        format!(r#"{{"value":7,"timestamp":{ts},"tags":{{"kind":"rss"}}}}"#),
    )
    .await;
    dev.pubacks(1).await;
    assert_eq!(app.stored_eventually(&app.alpha, "mem", 1).await, vec![("web-1".to_owned(), ts, 7.0)]);
}

#[tokio::test]
async fn the_agents_json_array_on_the_agent_topic_is_stored_whole() {
    let app = spawn_endpoint().await;
    let mut dev = Device::connect(app.addr, "alpha", &app.alpha.token).await.unwrap();
    let ts = app.now_ms() - 1_000;
    let batch: Vec<OutgoingSample> = ["load.1m", "load.5m", "load.15m"]
        .iter()
        .enumerate()
        .map(|(i, name)| OutgoingSample {
            metric_name: (*name).to_owned(),
            value: i as f64,
            timestamp: Some(ts),
            agent_id: Some("edge-1".to_owned()),
            tags: Default::default(),
            dedupe_id: Some(format!("edge-1-{ts}-{i}")),
        })
        .collect();
    dev.publish("metrics/alpha/edge-1", serde_json::to_vec(&batch).unwrap()).await;
    dev.pubacks(1).await;
    for (i, name) in ["load.1m", "load.5m", "load.15m"].iter().enumerate() {
        assert_eq!(
            app.stored_eventually(&app.alpha, name, 1).await,
            vec![("edge-1".to_owned(), ts, i as f64)]
        );
    }
}

#[tokio::test]
async fn the_edge_agent_publishes_into_the_endpoint_and_its_samples_are_stored() {
    let app = spawn_endpoint().await;
    let spool = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "microdash-agent",
        "--broker",
        &format!("mqtt://{}", app.addr),
        "--tenant",
        "alpha",
        "--token",
        &app.alpha.token,
        "--agent-id",
        "edge-7",
        "--interval",
        "1s",
        "--collectors",
        "load",
        "--spool-dir",
        spool.path().to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let cfg = microdash_agent::config::Config::load(args).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(microdash_agent::app::run(cfg, async move {
        let _ = stopped.await;
    }));
    let points = app.stored_eventually(&app.alpha, "system.load.1m", 1).await;
    assert_eq!(points[0].0, "edge-7");
    stop.send(()).unwrap();
    agent.await.unwrap().unwrap();
    assert!(
        std::fs::read_dir(spool.path())
            .unwrap()
            .all(|e| { e.unwrap().path().extension().is_none_or(|x| x != "batch") }),
        "every batch was acknowledged, so nothing was spooled"
    );
}

#[tokio::test]
async fn a_puback_is_sent_only_once_the_batch_is_in_the_queue() {
    let app = spawn_endpoint().await;
    let mut dev = Device::connect(app.addr, "alpha", &app.alpha.token).await.unwrap();
    app.queue.set_open(false);
    dev.publish("metrics/alpha/web-1/cpu", "1").await;
    dev.round_trip().await;
    // Arrange done: the message was read (the round trip came back after it) and is waiting.
    let early =
        tokio::time::timeout(Duration::from_millis(300), dev.next(|s| matches!(s, Seen::PubAck(_)))).await;
    assert!(early.is_err(), "PUBACK before the queue took the batch");
    assert_eq!(app.queue.entries.load(std::sync::atomic::Ordering::SeqCst), 0);
    app.queue.set_open(true);
    dev.pubacks(1).await;
    assert_eq!(app.queue.entries.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn messages_of_many_clients_of_one_token_are_coalesced_into_few_queue_entries() {
    let mut options = EndpointOptions::new("127.0.0.1:0".parse().unwrap());
    options.coalesce.linger = Duration::from_millis(100);
    let app = spawn_with(Setup { options, ..Setup::default() }).await;
    app.queue.set_open(false);
    let mut devices = Vec::new();
    for d in 0..5 {
        let dev = Device::connect(app.addr, "alpha", &app.alpha.token).await.unwrap();
        for i in 0..100 {
            let ts = app.now_ms() - 10_000 + i;
            dev.publish(
                &format!("metrics/alpha/dev-{d}/cpu"),
                format!(r#"{{"value":{i},"timestamp":{ts}}}"#),
            )
            .await;
        }
        devices.push(dev);
    }
    eventually("every message received", || app.metrics.messages_received() == 500).await;
    app.queue.set_open(true);
    for dev in &mut devices {
        dev.pubacks(100).await;
    }
    assert_eq!(app.stored_eventually(&app.alpha, "cpu", 500).await.len(), 500);
    let entries = app.queue.entries.load(std::sync::atomic::Ordering::SeqCst);
    assert!(entries <= 50, "500 messages made {entries} queue entries");
    assert_eq!(app.metrics.batches_queued(), entries as u64);
}

#[tokio::test]
async fn qos0_messages_are_stored_and_answered_with_nothing() {
    let app = spawn_endpoint().await;
    let (mut raw, _) =
        Raw::connect(app.addr, Raw::connect_packet("q0", "alpha", &app.alpha.token, 30, true)).await;
    raw.send(Packet::Publish(Publish::new("metrics/alpha/web-1/cpu", QoS::AtMostOnce, "3"))).await;
    raw.send(Packet::PingReq).await;
    assert_eq!(raw.recv().await, Some(Packet::PingResp), "the first answer is the PINGRESP, no PUBACK");
    assert_eq!(app.stored_eventually(&app.alpha, "cpu", 1).await[0].2, 3.0);
    // A PUBACK would be sent once the message is queued, so by now it would come before this.
    raw.send(Packet::PingReq).await;
    assert_eq!(raw.recv().await, Some(Packet::PingResp), "no PUBACK after storing either");
}

#[tokio::test]
async fn a_qos1_redelivery_with_a_dedupe_id_after_a_lost_connection_is_stored_once() {
    let app = spawn_endpoint().await;
    let connect = || Raw::connect_packet("sensor-9", "alpha", &app.alpha.token, 30, false);
    let mut publish =
        publish_with_id("metrics/alpha/sensor-9/temp", r#"{"value":21.5,"dedupe_id":"s9-1"}"#, 7);
    let (mut first, connack) = Raw::connect(app.addr, connect()).await;
    assert!(matches!(connack, Packet::ConnAck(a) if !a.session_present));
    first.send(Packet::Publish(publish.clone())).await;
    app.stored_eventually(&app.alpha, "temp", 1).await;
    drop(first); // the PUBACK is lost with the connection
    // The device resends at a later receive time: without the dedupe id it would be a second point.
    app.clock.advance(Duration::from_secs(5));
    let (mut second, connack) = Raw::connect(app.addr, connect()).await;
    assert!(matches!(connack, Packet::ConnAck(a) if a.session_present), "the persistent session is present");
    publish.dup = true;
    second.send(Packet::Publish(publish)).await;
    assert!(matches!(second.recv().await, Some(Packet::PubAck(a)) if a.pkid == 7));
    // A later message proves the worker has gone past the duplicate (the queue is FIFO).
    second.send(Packet::Publish(publish_with_id("metrics/alpha/sensor-9/marker", "1", 8))).await;
    app.stored_eventually(&app.alpha, "marker", 1).await;
    let points = app.stored(&app.alpha, "temp").await;
    assert_eq!(points.len(), 1, "stored once, at the first receive time: {points:?}");
}
