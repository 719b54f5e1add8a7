//! MQTT 3.1.1 through `rumqttc::mqttbytes`.

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{
    ConnAck, ConnectReturnCode, Packet, PubAck, SubAck, SubscribeReasonCode, UnsubAck,
};
use rumqttc::mqttbytes::{Error, Protocol};

use super::{Connect, ConnectError, DecodeError, Inbound, Outbound, Publish, Refusal, Version};

pub(super) fn read_connect(buf: &mut BytesMut, max: usize) -> Result<Option<Connect>, ConnectError> {
    match Packet::read(buf, max) {
        Ok(Packet::Connect(c)) if c.protocol == Protocol::V4 => Ok(Some(Connect {
            version: Version::V311,
            client_id: c.client_id,
            clean_start: c.clean_session,
            keep_alive: c.keep_alive,
            login: c.login.map(|l| (l.username, l.password)),
            session_expiry: u32::MAX,
        })),
        Ok(Packet::Connect(_)) | Err(Error::InvalidProtocol | Error::InvalidProtocolLevel(_)) => {
            Err(ConnectError::Version)
        }
        Ok(_) => Err(ConnectError::NotConnect),
        Err(e) => decode_error(e).map_err(ConnectError::from),
    }
}

pub(super) fn read(buf: &mut BytesMut, max: usize) -> Result<Option<Inbound>, DecodeError> {
    let packet = match Packet::read(buf, max) {
        Ok(p) => p,
        Err(e) => return decode_error(e),
    };
    Ok(Some(match packet {
        Packet::Publish(p) => Inbound::Publish(Publish {
            topic: p.topic.into(),
            qos: p.qos as u8,
            pkid: p.pkid,
            payload: p.payload,
        }),
        Packet::Subscribe(s) => Inbound::Subscribe { pkid: s.pkid, filters: s.filters.len() },
        Packet::Unsubscribe(u) => Inbound::Unsubscribe { pkid: u.pkid, filters: u.topics.len() },
        Packet::PingReq => Inbound::PingReq,
        Packet::Disconnect => Inbound::Disconnect,
        Packet::Connect(_) => Inbound::Unexpected("a second CONNECT"),
        Packet::PubAck(_) | Packet::PubRec(_) | Packet::PubComp(_) => {
            Inbound::Unexpected("an acknowledgement of a publish never sent")
        }
        Packet::PubRel(_) => Inbound::Unexpected("PUBREL (QoS 2 is not supported)"),
        Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
            Inbound::Unexpected("a packet only servers send")
        }
    }))
}

/// `Ok(None)` for "more bytes needed"; the error otherwise.
fn decode_error<T>(e: Error) -> Result<Option<T>, DecodeError> {
    match e {
        Error::InsufficientBytes(_) => Ok(None),
        Error::PayloadSizeLimitExceeded(size) => Err(DecodeError::TooLarge(size)),
        other => Err(DecodeError::Malformed(other.to_string())),
    }
}

pub(super) fn write(packet: Outbound, buf: &mut BytesMut) {
    let packet = match packet {
        Outbound::ConnAck { result, .. } => {
            let (code, session_present) = match result {
                Ok(present) => (ConnectReturnCode::Success, present),
                Err(refusal) => (refusal_code(refusal), false),
            };
            Packet::ConnAck(ConnAck::new(code, session_present))
        }
        Outbound::PubAck { pkid, .. } => Packet::PubAck(PubAck::new(pkid)),
        Outbound::SubAckRefused { pkid, filters } => {
            Packet::SubAck(SubAck::new(pkid, vec![SubscribeReasonCode::Failure; filters]))
        }
        Outbound::UnsubAck { pkid, .. } => Packet::UnsubAck(UnsubAck::new(pkid)),
        Outbound::PingResp => Packet::PingResp,
        // MQTT 3.1.1 servers do not send DISCONNECT: closing the socket says it all.
        Outbound::Disconnect(_) => return,
    };
    // The only packets written here are a few bytes long, far below any size limit.
    let _ = packet.write(buf, usize::MAX);
}

fn refusal_code(refusal: Refusal) -> ConnectReturnCode {
    match refusal {
        Refusal::Protocol => ConnectReturnCode::RefusedProtocolVersion,
        Refusal::ClientId => ConnectReturnCode::BadClientId,
        Refusal::Unavailable => ConnectReturnCode::ServiceUnavailable,
        Refusal::Credentials => ConnectReturnCode::BadUserNamePassword,
        Refusal::NotAuthorized => ConnectReturnCode::NotAuthorized,
    }
}
