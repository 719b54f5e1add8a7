//! MQTT 5 clients: the same ingestion, with reason codes that say why.

use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{
    ConnectReturnCode, DisconnectReasonCode, Packet, PubAckReason, SubscribeReasonCode,
};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, StateError};

use crate::helpers::*;

async fn connect(
    app: &TestEndpoint,
    user: &str,
    token: &str,
) -> Result<(AsyncClient, EventLoop), ConnectionError> {
    let mut o =
        MqttOptions::new(format!("v5-{}", uuid::Uuid::new_v4().simple()), "127.0.0.1", app.addr.port());
    o.set_credentials(user, token).set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(o, 100);
    match tokio::time::timeout(WITHIN, eventloop.poll()).await.expect("no CONNACK")? {
        Event::Incoming(Packet::ConnAck(ack)) => {
            let props = ack.properties.expect("a CONNACK with properties");
            assert_eq!(
                (props.max_qos, props.retain_available),
                (Some(1), Some(0)),
                "QoS 2 and retain are not offered"
            );
            Ok((client, eventloop))
        }
        other => panic!("expected a CONNACK, got {other:?}"),
    }
}

/// The next incoming packet matching `wanted`.
async fn next(eventloop: &mut EventLoop, wanted: impl Fn(&Packet) -> bool) -> Packet {
    tokio::time::timeout(WITHIN, async {
        loop {
            if let Event::Incoming(p) = eventloop.poll().await.expect("connection lost")
                && wanted(&p)
            {
                return p;
            }
        }
    })
    .await
    .expect("nothing wanted in time")
}

#[tokio::test]
async fn an_mqtt5_client_publishes_and_gets_a_successful_puback_once_stored_is_queued() {
    let app = spawn_endpoint().await;
    let (client, mut eventloop) = connect(&app, "alpha", &app.alpha.token).await.unwrap();
    client.publish("metrics/alpha/v5-dev/cpu", QoS::AtLeastOnce, false, "12.5").await.unwrap();
    let Packet::PubAck(ack) = next(&mut eventloop, |p| matches!(p, Packet::PubAck(_))).await else {
        unreachable!()
    };
    assert_eq!(ack.reason, PubAckReason::Success);
    assert_eq!(app.stored_eventually(&app.alpha, "cpu", 1).await[0].2, 12.5);
}

#[tokio::test]
async fn an_mqtt5_client_is_told_why_a_message_was_dropped() {
    let app = spawn_endpoint().await;
    let (client, mut eventloop) = connect(&app, "alpha", &app.alpha.token).await.unwrap();
    client.publish("metrics/alpha/v5-dev/cpu", QoS::AtLeastOnce, false, "{").await.unwrap();
    let Packet::PubAck(ack) = next(&mut eventloop, |p| matches!(p, Packet::PubAck(_))).await else {
        unreachable!()
    };
    assert_eq!(ack.reason, PubAckReason::PayloadFormatInvalid);
    client.publish("metrics/alpha/v5-dev/9bad", QoS::AtLeastOnce, false, "1").await.unwrap();
    let Packet::PubAck(ack) = next(&mut eventloop, |p| matches!(p, Packet::PubAck(_))).await else {
        unreachable!()
    };
    assert_eq!(ack.reason, PubAckReason::TopicNameInvalid);
}

#[tokio::test]
async fn an_mqtt5_client_with_a_wrong_token_is_refused_with_bad_user_name_or_password() {
    let app = spawn_endpoint().await;
    match connect(&app, "alpha", "mdt_wrong").await {
        Err(ConnectionError::ConnectionRefused(code)) => {
            assert_eq!(code, ConnectReturnCode::BadUserNamePassword)
        }
        Err(other) => panic!("expected a refusal, got {other}"),
        Ok(_) => panic!("accepted"),
    }
}

#[tokio::test]
async fn an_mqtt5_subscribe_is_refused_as_not_authorized() {
    let app = spawn_endpoint().await;
    let (client, mut eventloop) = connect(&app, "alpha", &app.alpha.token).await.unwrap();
    client.subscribe("metrics/#", QoS::AtLeastOnce).await.unwrap();
    let Packet::SubAck(ack) = next(&mut eventloop, |p| matches!(p, Packet::SubAck(_))).await else {
        unreachable!()
    };
    assert_eq!(ack.return_codes, vec![SubscribeReasonCode::NotAuthorized]);
}

#[tokio::test]
async fn an_mqtt5_client_publishing_into_another_tenant_is_told_not_authorized_and_disconnected() {
    let app = spawn_endpoint().await;
    let (client, mut eventloop) = connect(&app, "alpha", &app.alpha.token).await.unwrap();
    client.publish("metrics/beta/x/cpu", QoS::AtLeastOnce, false, "1").await.unwrap();
    let ended = tokio::time::timeout(WITHIN, async {
        loop {
            if let Err(e) = eventloop.poll().await {
                return e;
            }
        }
    })
    .await
    .unwrap();
    // rumqttc reports a server DISCONNECT as the error ending the connection.
    match ended {
        ConnectionError::MqttState(StateError::ServerDisconnect { reason_code, .. }) => {
            assert_eq!(reason_code, DisconnectReasonCode::NotAuthorized);
        }
        other => panic!("expected a DISCONNECT from the server, got {other}"),
    }
}
