//! Tenants are isolated: credentials are checked with the proper CONNACK codes, a publish into
//! another tenant is dropped and disconnects, nobody can subscribe, and client ids are per tenant.

use microdash_adapter_mqtt::DropReason;
use rumqttc::mqttbytes::v4::{ConnAck, Connect, Packet};
use rumqttc::{ConnectReturnCode, ConnectionError, SubscribeReasonCode};

use crate::helpers::*;

fn refusal(result: Result<Device, ConnectionError>) -> ConnectReturnCode {
    match result {
        Err(ConnectionError::ConnectionRefused(code)) => code,
        Err(other) => panic!("expected a CONNACK refusal, got {other}"),
        Ok(_) => panic!("the connection was accepted"),
    }
}

#[tokio::test]
async fn a_wrong_token_gets_connack_bad_user_name_or_password() {
    let app = spawn_endpoint().await;
    let code = refusal(Device::connect(app.addr, "alpha", "mdt_not-a-token").await);
    assert_eq!(code, ConnectReturnCode::BadUserNamePassword);
    assert_eq!(app.metrics.connects_refused(4), 1);
}

#[tokio::test]
async fn another_tenants_token_is_refused_like_a_wrong_password() {
    let app = spawn_endpoint().await;
    let code = refusal(Device::connect(app.addr, "alpha", &app.beta.token).await);
    assert_eq!(code, ConnectReturnCode::BadUserNamePassword);
}

#[tokio::test]
async fn a_client_without_credentials_gets_connack_not_authorized() {
    let app = spawn_endpoint().await;
    let (mut raw, connack) = Raw::connect(app.addr, Connect::new("anonymous")).await;
    assert_eq!(connack, Packet::ConnAck(ConnAck::new(ConnectReturnCode::NotAuthorized, false)));
    assert_eq!(raw.recv().await, None, "closed after the refusal");
}

#[tokio::test]
async fn an_old_protocol_version_gets_connack_unacceptable_protocol_version() {
    let app = spawn_endpoint().await;
    // MQTT 3.1: protocol name "MQIsdp", level 3.
    let mut bytes = vec![0x10, 0x11, 0x00, 0x06];
    bytes.extend_from_slice(b"MQIsdp");
    bytes.extend_from_slice(&[0x03, 0x02, 0x00, 0x1e, 0x00, 0x03]);
    bytes.extend_from_slice(b"old");
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, &bytes).await.unwrap();
    let mut answer = [0u8; 4];
    tokio::io::AsyncReadExt::read_exact(&mut stream, &mut answer).await.unwrap();
    assert_eq!(answer, [0x20, 0x02, 0x00, 0x01]);
}

#[tokio::test]
async fn a_publish_into_another_tenant_is_dropped_and_the_client_disconnected() {
    let app = spawn_endpoint().await;
    let mut alpha = Device::connect(app.addr, "alpha", &app.alpha.token).await.unwrap();
    alpha.publish("metrics/alpha/d1/cpu", "1").await;
    alpha.publish("metrics/beta/d1/cpu", "666").await;
    let mut acked = Vec::new();
    let why = loop {
        match alpha.next(|s| matches!(s, Seen::PubAck(_) | Seen::Closed(_))).await {
            Seen::PubAck(id) => acked.push(id),
            Seen::Closed(why) => break why,
            _ => unreachable!(),
        }
    };
    assert_eq!(acked, vec![1], "the earlier, valid message is acknowledged before the close ({why})");
    assert_eq!(app.metrics.dropped(DropReason::CrossTenant), 1);
    assert_eq!(app.stored_eventually(&app.alpha, "cpu", 1).await.len(), 1);
    assert!(app.stored(&app.beta, "cpu").await.is_empty(), "nothing reached the other tenant");
}

#[tokio::test]
async fn subscriptions_are_refused_so_no_client_can_read_anyones_messages() {
    let app = spawn_endpoint().await;
    let mut spy = Device::connect(app.addr, "alpha", &app.alpha.token).await.unwrap();
    for filter in ["#", "metrics/beta/#", "metrics/alpha/#", "$share/g/metrics/#"] {
        spy.client.subscribe(filter, rumqttc::QoS::AtLeastOnce).await.unwrap();
        let answer = spy.next(|s| matches!(s, Seen::SubAck(_))).await;
        assert_eq!(answer, Seen::SubAck(vec![SubscribeReasonCode::Failure]), "{filter}");
    }
    let mut beta = Device::connect(app.addr, "beta", &app.beta.token).await.unwrap();
    beta.publish("metrics/beta/d1/secret", "1").await;
    beta.pubacks(1).await;
    spy.round_trip().await;
    let delivered: Vec<_> = spy.drain().into_iter().filter(|s| matches!(s, Seen::Publish(_))).collect();
    assert!(delivered.is_empty(), "a message was delivered to a client: {delivered:?}");
    assert_eq!(app.metrics.subscribes_refused(), 5);
}

#[tokio::test]
async fn a_client_id_is_per_tenant_so_another_tenant_cannot_take_a_device_over() {
    let app = spawn_endpoint().await;
    let id = |o: &mut rumqttc::MqttOptions| {
        o.set_client_id("plant-7".to_owned());
    };
    let mut alpha = Device::connect_with(app.addr, "alpha", &app.alpha.token, id).await.unwrap();
    let _beta = Device::connect_with(app.addr, "beta", &app.beta.token, id).await.unwrap();
    alpha.round_trip().await;
    let _alpha_again = Device::connect_with(app.addr, "alpha", &app.alpha.token, id).await.unwrap();
    alpha.closed().await;
}
