//! Shutdown stops accepting, has what is in flight queued and acknowledged, then returns.

use std::time::Duration;

use microdash_adapter_mqtt::EndpointOptions;
use rumqttc::mqttbytes::v4::Packet;

use crate::helpers::*;

#[tokio::test]
async fn shutdown_acknowledges_and_stores_every_message_in_flight_without_waiting_for_the_linger() {
    // Arrange: a linger far longer than the test may take, so messages wait in the coalescer.
    let mut options = EndpointOptions::new("127.0.0.1:0".parse().unwrap());
    options.coalesce.linger = Duration::from_secs(60);
    let mut app = spawn_with(Setup { options, ..Setup::default() }).await;
    let (mut raw, _) =
        Raw::connect(app.addr, Raw::connect_packet("d1", "alpha", &app.alpha.token, 30, true)).await;
    for i in 0..50u16 {
        let ts = app.now_ms() - 1_000 + i64::from(i);
        let payload = format!(r#"{{"value":{i},"timestamp":{ts}}}"#);
        raw.send(Packet::Publish(publish_with_id("metrics/alpha/d1/cpu", &payload, i + 1))).await;
    }
    eventually("every message received", || app.metrics.messages_received() == 50).await;
    assert!(app.stored(&app.alpha, "cpu").await.is_empty(), "still lingering");

    // Act
    app.shutdown().await;

    // Assert
    for pkid in 1..=50 {
        match raw.recv().await {
            Some(Packet::PubAck(ack)) => assert_eq!(ack.pkid, pkid),
            other => panic!("expected the PUBACK of {pkid}, got {other:?}"),
        }
    }
    assert_eq!(raw.recv().await, None, "then the connection is closed");
    assert_eq!(app.stored_eventually(&app.alpha, "cpu", 50).await.len(), 50);
    assert!(tokio::net::TcpStream::connect(app.addr).await.is_err(), "no longer accepting");
}
