//! The MQTT device endpoint in the real composition root: what a device publishes is
//! queryable over HTTP, the default port falls back when busy, a chosen one fails fast.

use std::time::Duration;

use microdash::app::App;
use microdash::testing::{eventually, serve_args};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::oneshot;

#[tokio::test]
async fn serve_stores_what_a_device_publishes_over_mqtt() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let app = App::build(&serve_args(dir.path(), &[])).await.unwrap();
    let (_, token) = app.admin().ensure_demo_tenant().await.unwrap().unwrap();
    let token = token.expose().to_owned();
    let (mqtt, http) = (app.mqtt_addr().expect("serve runs the MQTT endpoint"), app.http_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));

    // Act
    let mut o = MqttOptions::new("device-1", mqtt.ip().to_string(), mqtt.port());
    o.set_credentials("demo", token.clone()).set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(o, 10);
    client.publish("metrics/demo/device-1/mqtt.temp", QoS::AtLeastOnce, false, "21.5").await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !matches!(eventloop.poll().await.expect("connected"), Event::Incoming(Packet::PubAck(_))) {}
    })
    .await
    .expect("a PUBACK");

    // Assert
    let http_client = reqwest::Client::new();
    let url = format!("http://{http}/api/v1/metrics/query?name=mqtt.temp&agent_id=device-1");
    let stored = eventually(Duration::from_secs(10), || async {
        let reply = http_client.get(&url).header("X-API-Token", &token).send().await.ok()?;
        let body: serde_json::Value = reply.json().await.ok()?;
        (body["total"] == 1).then_some(body)
    })
    .await;
    assert!(stored.is_some(), "the published sample never became queryable");
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_busy_default_mqtt_port_moves_to_a_free_one_but_a_chosen_busy_one_fails_fast() {
    // Make sure the default port is busy (Mosquitto may hold it already; then this fails).
    let _busy = std::net::TcpListener::bind("127.0.0.1:1883").ok(); // the default `--mqtt-addr`
    let dir = tempfile::tempdir().unwrap();
    let app = App::build(&serve_args(dir.path(), &[])).await.unwrap();
    let bound = app.mqtt_addr().unwrap();
    assert!(bound.port() > 1883, "a port after the busy default: {bound}");
    // The port it took is busy now: asking for it explicitly must fail, naming it.
    let chosen = bound.to_string();
    let other = tempfile::tempdir().unwrap();
    let Err(error) = App::build(&serve_args(other.path(), &["--mqtt-addr", &chosen])).await else {
        panic!("bound a busy port");
    };
    assert!(format!("{error:#}").contains(&chosen), "{error:#}");
}
