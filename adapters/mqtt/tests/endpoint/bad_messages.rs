//! Every class of bad message is dropped, counted with its reason and acknowledged, and the
//! connection goes on; QoS 2 is refused by closing the connection.

use microdash_adapter_mqtt::DropReason;
use microdash_usecases::IngestLimits;
use rumqttc::QoS;
use rumqttc::mqttbytes::v4::{Packet, Publish};

use crate::helpers::*;

fn items(n: usize) -> String {
    let one: Vec<String> = (0..n).map(|i| format!(r#"{{"metric_name":"m{i}","value":{i}}}"#)).collect();
    format!("[{}]", one.join(","))
}

#[tokio::test]
async fn every_bad_message_class_is_dropped_counted_and_acknowledged_while_the_connection_goes_on() {
    // Arrange
    let app = spawn_with(Setup { limits: IngestLimits { max_items: 5 }, ..Setup::default() }).await;
    app.admin.set_quota("alpha", 4).await.unwrap();
    let mut dev = Device::connect(app.addr, "alpha", &app.alpha.token).await.unwrap();
    let explicit = app.now_ms() - 1_000;
    let messages: Vec<(&str, String, Option<DropReason>)> = vec![
        ("metrics/alpha/d1/good", "1".into(), None),
        ("metrics/alpha/d1/cpu", "{".into(), Some(DropReason::Malformed)),
        ("metrics/alpha/d1/cpu", "".into(), Some(DropReason::Malformed)),
        ("metrics/alpha/d1/cpu", r#"{"value":"x"}"#.into(), Some(DropReason::Invalid)),
        ("metrics/alpha/d1/cpu", r#"{"value":1,"colour":"red"}"#.into(), Some(DropReason::Invalid)),
        ("metrics/alpha/d1", items(6), Some(DropReason::TooManyItems)),
        ("metrics/alpha/d1", "[]".into(), Some(DropReason::Empty)),
        ("metrics/alpha/d1", items(5), Some(DropReason::OverQuota)),
        ("metrics/alpha/d1/9bad", "1".into(), Some(DropReason::BadTopic)),
        ("metrics/alpha", "1".into(), Some(DropReason::BadTopic)),
        ("devices/d1/cpu", "1".into(), Some(DropReason::ForeignTopic)),
        ("metrics/alpha/d1/good", format!(r#"{{"value":2,"timestamp":{explicit}}}"#), None),
    ];

    // Act
    for (topic, payload, _) in &messages {
        dev.publish(topic, payload.clone()).await;
    }

    // Assert
    let acked = dev.pubacks(messages.len()).await;
    assert_eq!(acked, (1..=messages.len() as u16).collect::<Vec<_>>(), "answered in order");
    dev.round_trip().await;
    let good = app.stored_eventually(&app.alpha, "good", 2).await;
    assert_eq!(good.iter().map(|p| p.2).collect::<Vec<_>>(), vec![2.0, 1.0]);
    for reason in DropReason::ALL {
        let expected = messages.iter().filter(|m| m.2 == Some(reason)).count() as u64;
        assert_eq!(app.metrics.dropped(reason), expected, "{}", reason.as_str());
    }
    assert!(app.stored(&app.alpha, "cpu").await.is_empty());
}

#[tokio::test]
async fn a_qos2_publish_closes_the_connection_and_is_not_stored() {
    let app = spawn_endpoint().await;
    let (mut raw, _) =
        Raw::connect(app.addr, Raw::connect_packet("q2", "alpha", &app.alpha.token, 30, true)).await;
    let mut publish = Publish::new("metrics/alpha/d1/cpu", QoS::ExactlyOnce, "1");
    publish.pkid = 1;
    raw.send(Packet::Publish(publish)).await;
    assert_eq!(raw.recv().await, None, "closed without a PUBREC");
    assert_eq!(app.metrics.dropped(DropReason::Qos2), 1);
    assert!(app.stored(&app.alpha, "cpu").await.is_empty());
}
