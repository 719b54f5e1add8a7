//! MQTT 5 through `rumqttc::v5::mqttbytes`.

use bytes::{Buf, BytesMut};
use rumqttc::v5::mqttbytes::v5::{
    ConnAck, ConnAckProperties, ConnectReturnCode, Disconnect, DisconnectProperties, DisconnectReasonCode,
    Packet, PubAck, PubAckReason, SubAck, SubscribeReasonCode, UnsubAck, UnsubAckReason,
};
use rumqttc::v5::mqttbytes::{Error, QoS};

use super::{
    Close, Connect, ConnectError, DecodeError, Inbound, Limits, Outbound, Publish, Refusal, Version,
};
use crate::drop_reason::DropReason;

/// What the MQTT 5 codec made of a first packet.
pub(super) enum Probe {
    /// A CONNECT of another protocol level (4 is MQTT 3.1.1).
    OtherLevel(u8),
    /// Read as MQTT 5: a CONNECT, more bytes needed, or an error.
    Read(Result<Option<Connect>, ConnectError>),
}

pub(super) fn read_connect(buf: &mut BytesMut, max: usize) -> Probe {
    let result = match Packet::read(buf, Some(max_u32(max))) {
        Ok(Packet::Connect(c, _will, login)) => Ok(Some(Connect {
            version: Version::V5,
            client_id: c.client_id,
            clean_start: c.clean_start,
            keep_alive: c.keep_alive,
            login: login.map(|l| (l.username, l.password)),
            session_expiry: c.properties.and_then(|p| p.session_expiry_interval).unwrap_or(0),
        })),
        Ok(_) => Err(ConnectError::NotConnect),
        Err(Error::InvalidProtocolLevel(level)) => return Probe::OtherLevel(level),
        Err(Error::InvalidProtocol) => Err(ConnectError::Version),
        Err(e) => decode_error(e).map_err(ConnectError::from),
    };
    Probe::Read(result)
}

pub(super) fn read(buf: &mut BytesMut, max: usize) -> Result<Option<Inbound>, DecodeError> {
    // MQTT 5 allows a bare two-byte DISCONNECT (reason 0 implied), which rumqttc's reader
    // refuses ("payload required"); recognise exactly that packet here.
    if buf.len() >= 2 && buf[0] == 0xE0 && buf[1] == 0 {
        buf.advance(2);
        return Ok(Some(Inbound::Disconnect));
    }
    let packet = match Packet::read(buf, Some(max_u32(max))) {
        Ok(p) => p,
        Err(e) => return decode_error(e),
    };
    Ok(Some(match packet {
        Packet::Publish(p) => Inbound::Publish(Publish {
            topic: p.topic,
            qos: match p.qos {
                QoS::AtMostOnce => 0,
                QoS::AtLeastOnce => 1,
                QoS::ExactlyOnce => 2,
            },
            pkid: p.pkid,
            payload: p.payload,
        }),
        Packet::Subscribe(s) => Inbound::Subscribe { pkid: s.pkid, filters: s.filters.len() },
        Packet::Unsubscribe(u) => Inbound::Unsubscribe { pkid: u.pkid, filters: u.filters.len() },
        Packet::PingReq(_) => Inbound::PingReq,
        Packet::Disconnect(_) => Inbound::Disconnect,
        Packet::Connect(..) => Inbound::Unexpected("a second CONNECT"),
        Packet::Auth(_) => Inbound::Unexpected("AUTH (enhanced authentication is not supported)"),
        Packet::PubAck(_) | Packet::PubRec(_) | Packet::PubComp(_) => {
            Inbound::Unexpected("an acknowledgement of a publish never sent")
        }
        Packet::PubRel(_) => Inbound::Unexpected("PUBREL (QoS 2 is not supported)"),
        Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp(_) => {
            Inbound::Unexpected("a packet only servers send")
        }
    }))
}

fn max_u32(max: usize) -> u32 {
    u32::try_from(max).unwrap_or(u32::MAX)
}

fn decode_error<T>(e: Error) -> Result<Option<T>, DecodeError> {
    match e {
        Error::InsufficientBytes(_) => Ok(None),
        Error::PayloadSizeLimitExceeded { pkt_size, .. } => Err(DecodeError::TooLarge(pkt_size)),
        other => Err(DecodeError::Malformed(other.to_string())),
    }
}

pub(super) fn write(packet: Outbound, buf: &mut BytesMut) {
    let packet = match packet {
        Outbound::ConnAck { result, assigned_client_id, limits } => {
            connack(result, assigned_client_id, limits)
        }
        Outbound::PubAck { pkid, dropped } => {
            let mut ack = PubAck::new(pkid, None);
            ack.reason = dropped.map_or(PubAckReason::Success, puback_reason);
            Packet::PubAck(ack)
        }
        Outbound::SubAckRefused { pkid, filters } => Packet::SubAck(SubAck {
            pkid,
            return_codes: vec![SubscribeReasonCode::NotAuthorized; filters],
            properties: None,
        }),
        Outbound::UnsubAck { pkid, filters } => Packet::UnsubAck(UnsubAck {
            pkid,
            reasons: vec![UnsubAckReason::NoSubscriptionExisted; filters],
            properties: None,
        }),
        Outbound::PingResp => Packet::PingResp(rumqttc::v5::mqttbytes::v5::PingResp),
        // Always with a reason string: it tells the client why, and rumqttc 0.25 miscounts a
        // DISCONNECT without properties (or with empty ones) by a byte.
        Outbound::Disconnect(close) => Packet::Disconnect(Disconnect {
            reason_code: disconnect_reason(close),
            properties: Some(DisconnectProperties {
                session_expiry_interval: None,
                reason_string: Some(disconnect_text(close).to_owned()),
                user_properties: Vec::new(),
                server_reference: None,
            }),
        }),
    };
    // The packets written here are small and carry no client data beyond an id.
    let _ = packet.write(buf, None);
}

fn connack(result: Result<bool, Refusal>, assigned_client_id: Option<String>, limits: Limits) -> Packet {
    let (code, session_present) = match result {
        Ok(present) => (ConnectReturnCode::Success, present),
        Err(Refusal::Protocol) => (ConnectReturnCode::UnsupportedProtocolVersion, false),
        Err(Refusal::ClientId) => (ConnectReturnCode::ClientIdentifierNotValid, false),
        Err(Refusal::Unavailable) => (ConnectReturnCode::ServerUnavailable, false),
        Err(Refusal::Credentials) => (ConnectReturnCode::BadUserNamePassword, false),
        Err(Refusal::NotAuthorized) => (ConnectReturnCode::NotAuthorized, false),
    };
    let properties = (code == ConnectReturnCode::Success).then(|| ConnAckProperties {
        session_expiry_interval: None,
        receive_max: Some(limits.receive_max),
        // An ingest-only endpoint: QoS 2 and retained messages have nowhere to go.
        max_qos: Some(1),
        retain_available: Some(0),
        max_packet_size: Some(limits.max_packet_bytes),
        assigned_client_identifier: assigned_client_id,
        topic_alias_max: None,
        reason_string: None,
        user_properties: Vec::new(),
        // Subscriptions are refused, so none of their features is on offer.
        wildcard_subscription_available: Some(0),
        subscription_identifiers_available: Some(0),
        shared_subscription_available: Some(0),
        server_keep_alive: None,
        response_information: None,
        server_reference: None,
        authentication_method: None,
        authentication_data: None,
    });
    Packet::ConnAck(ConnAck { session_present, code, properties })
}

fn puback_reason(reason: DropReason) -> PubAckReason {
    match reason {
        DropReason::Malformed | DropReason::Empty | DropReason::TooManyItems | DropReason::Invalid => {
            PubAckReason::PayloadFormatInvalid
        }
        DropReason::ForeignTopic | DropReason::BadTopic | DropReason::UnknownTenant => {
            PubAckReason::TopicNameInvalid
        }
        DropReason::OverQuota => PubAckReason::QuotaExceeded,
        DropReason::CrossTenant => PubAckReason::NotAuthorized,
        DropReason::Qos2 => PubAckReason::ImplementationSpecificError,
    }
}

fn disconnect_reason(close: Close) -> DisconnectReasonCode {
    match close {
        Close::NotAuthorized => DisconnectReasonCode::NotAuthorized,
        Close::QosNotSupported => DisconnectReasonCode::QoSNotSupported,
        Close::ProtocolError => DisconnectReasonCode::ProtocolError,
        Close::MalformedPacket => DisconnectReasonCode::MalformedPacket,
        Close::PacketTooLarge => DisconnectReasonCode::PacketTooLarge,
        Close::KeepAliveTimeout => DisconnectReasonCode::KeepAliveTimeout,
        Close::SessionTakenOver => DisconnectReasonCode::SessionTakenOver,
        Close::ShuttingDown => DisconnectReasonCode::ServerShuttingDown,
        Close::Busy => DisconnectReasonCode::ServerBusy,
    }
}

fn disconnect_text(close: Close) -> &'static str {
    match close {
        Close::NotAuthorized => "publish only under metrics/{your tenant}/",
        Close::QosNotSupported => "QoS 2 is not supported; publish at QoS 0 or 1",
        Close::ProtocolError => "a packet this endpoint does not accept here",
        Close::MalformedPacket => "a malformed packet",
        Close::PacketTooLarge => "a packet larger than the maximum packet size",
        Close::KeepAliveTimeout => "nothing received for 1.5 times the keep-alive",
        Close::SessionTakenOver => "another connection took over this client id",
        Close::ShuttingDown => "the server is shutting down",
        Close::Busy => "messages could not be queued in time; resend what was not acknowledged",
    }
}
