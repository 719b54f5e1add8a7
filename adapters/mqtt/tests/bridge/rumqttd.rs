//! The bridge against an in-process rumqttd broker: rumqttd serves where a general broker is
//! wanted, so the bridge is tested without depending on the machine's Mosquitto.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use microdash_adapter_mqtt::DropReason;
use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

use crate::harness::*;

/// Starts rumqttd on a free port in its own thread (it has no stop; the thread ends with the
/// test process) and waits until it accepts.
fn start_broker() -> u16 {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let connections = ConnectionSettings {
        connection_timeout_ms: 5_000,
        max_payload_size: 1024 * 1024,
        max_inflight_count: 500,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server =
        ServerSettings { name: "v4".into(), listen, tls: None, next_connection_delay_ms: 0, connections };
    let config = Config {
        id: 0,
        router: RouterConfig {
            max_connections: 100,
            max_outgoing_packet_count: 500,
            max_segment_size: 100 << 20,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some(HashMap::from([("1".to_owned(), server)])),
        ..Default::default()
    };
    std::thread::spawn(move || Broker::new(config).start().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(listen).is_err() {
        assert!(Instant::now() < deadline, "rumqttd did not start listening on {listen}");
        std::thread::sleep(Duration::from_millis(10));
    }
    port
}

#[tokio::test]
async fn the_bridge_stores_both_topic_forms_published_to_an_in_process_rumqttd() {
    let port = start_broker();
    let backend = Backend::new().await;
    let tenant = backend.unique_tenant().await;
    let mut bridge = backend.bridge(bridge_options(port)).await.unwrap();
    let mut device = Publisher::connect(port, None).await.unwrap();
    let t = tenant.slug.as_str();
    let ts = backend.now_ms() - 1_000;
    device.publish(&format!("metrics/{t}/d1/cpu"), "42").await;
    device
        .publish(
            &format!("metrics/{t}/d1"),
            format!(r#"[{{"metric_name":"mem","value":7,"timestamp":{ts}}}]"#),
        )
        .await;
    device.publish("metrics/no-such-tenant/d1/cpu", "1").await;
    assert_eq!(backend.stored_eventually(&tenant, "cpu", 1).await[0].2, 42.0);
    assert_eq!(backend.stored_eventually(&tenant, "mem", 1).await, vec![("d1".to_owned(), ts, 7.0)]);
    let metrics = bridge.metrics.clone();
    crate::harness::eventually("the unknown tenant counted", || {
        metrics.dropped(DropReason::UnknownTenant) == 1
    })
    .await;
    bridge.stop().await;
}

#[tokio::test]
async fn bridges_in_one_share_group_split_the_messages_and_each_is_stored_once() {
    let port = start_broker();
    let backend = Backend::new().await;
    let tenant = backend.unique_tenant().await;
    let first_options = bridge_options(port);
    let mut second_options = bridge_options(port);
    second_options.share_group = first_options.share_group.clone();
    let mut first = backend.bridge(first_options).await.unwrap();
    let mut second = backend.bridge(second_options).await.unwrap();
    let mut device = Publisher::connect(port, None).await.unwrap();
    let base = backend.now_ms() - 10_000;
    for i in 0..40 {
        let payload = format!(r#"{{"value":{i},"timestamp":{}}}"#, base + i);
        device.publish(&format!("metrics/{}/d1/cpu", tenant.slug), payload).await;
    }
    let points = backend.stored_eventually(&tenant, "cpu", 40).await;
    assert_eq!(points.len(), 40);
    let (a, b) = (first.metrics.messages_queued(), second.metrics.messages_queued());
    assert_eq!(a + b, 40, "each message went to one bridge only");
    assert!(a > 0 && b > 0, "both bridges took a share: {a} and {b}");
    first.stop().await;
    second.stop().await;
}
