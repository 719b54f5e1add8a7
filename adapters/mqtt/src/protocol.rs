//! The packets of an ingest-only endpoint, read and written with the rumqtt family's codec
//! (`rumqttc::mqttbytes` for MQTT 3.1.1, `rumqttc::v5::mqttbytes` for MQTT 5), never a parser of
//! our own. The rest of the endpoint sees one protocol-neutral shape ([`Inbound`], [`Outbound`]),
//! so MQTT 5 costs only the translation in [`v4`] and [`v5`].
//!
//! Not for: what a packet means for a session (see `connection`).

mod v4;
mod v5;

use bytes::{Bytes, BytesMut};

use crate::drop_reason::DropReason;

/// The protocol a connection speaks, fixed by its CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.
    V5,
}

/// What a CONNECT asks for.
#[derive(Debug, Clone)]
pub(crate) struct Connect {
    pub version: Version,
    pub client_id: String,
    /// Clean session (3.1.1) or clean start (5).
    pub clean_start: bool,
    /// Seconds; 0 turns the keep-alive off.
    pub keep_alive: u16,
    /// User name and password.
    pub login: Option<(String, String)>,
    /// MQTT 5 session expiry in seconds (0: the session ends with the connection;
    /// `u32::MAX`: never). MQTT 3.1.1 persistent sessions never expire.
    pub session_expiry: u32,
}

/// A PUBLISH as received.
#[derive(Debug, Clone)]
pub(crate) struct Publish {
    /// Raw topic bytes: MQTT 5 hands them over unchecked, so UTF-8 is checked by the caller.
    pub topic: Bytes,
    pub qos: u8,
    pub pkid: u16,
    pub payload: Bytes,
}

/// A packet from a connected client.
#[derive(Debug, Clone)]
pub(crate) enum Inbound {
    Publish(Publish),
    Subscribe {
        pkid: u16,
        filters: usize,
    },
    Unsubscribe {
        pkid: u16,
        filters: usize,
    },
    PingReq,
    Disconnect,
    /// A packet a client may not send here: a second CONNECT, acknowledgements of publishes
    /// this endpoint never sends, AUTH.
    Unexpected(&'static str),
}

/// Why a CONNECT is refused, in the CONNACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not MQTT 3.1.1 or 5.
    Protocol,
    /// An empty client id with a persistent session (3.1.1 cannot assign one).
    ClientId,
    /// Credentials cannot be checked now (the token store is down).
    Unavailable,
    /// Wrong user name or password.
    Credentials,
    /// No credentials at all.
    NotAuthorized,
}

impl Refusal {
    /// The 3.1.1 return code, also the metric label.
    pub(crate) fn code(self) -> u8 {
        match self {
            Refusal::Protocol => 1,
            Refusal::ClientId => 2,
            Refusal::Unavailable => 3,
            Refusal::Credentials => 4,
            Refusal::NotAuthorized => 5,
        }
    }
}

/// Why the endpoint closes a connection; sent as a DISCONNECT reason to MQTT 5 clients
/// (3.1.1 has no server DISCONNECT, the socket is just closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Close {
    NotAuthorized,
    QosNotSupported,
    ProtocolError,
    MalformedPacket,
    PacketTooLarge,
    KeepAliveTimeout,
    SessionTakenOver,
    ShuttingDown,
    /// Batches could not be queued in time; the client should resend what was not acknowledged.
    Busy,
}

/// Settings the CONNACK announces to MQTT 5 clients.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Unacknowledged QoS 1 publishes a client may have in flight.
    pub receive_max: u16,
    pub max_packet_bytes: u32,
}

/// A packet to a client.
#[derive(Debug, Clone)]
pub(crate) enum Outbound {
    ConnAck {
        result: Result<bool, Refusal>,
        assigned_client_id: Option<String>,
        limits: Limits,
    },
    /// `dropped`: the message was not stored (MQTT 5 says why in the reason code).
    PubAck {
        pkid: u16,
        dropped: Option<DropReason>,
    },
    SubAckRefused {
        pkid: u16,
        filters: usize,
    },
    UnsubAck {
        pkid: u16,
        filters: usize,
    },
    PingResp,
    Disconnect(Close),
}

/// Why bytes from a client are not a packet.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("packet of {0} bytes is larger than allowed")]
    TooLarge(usize),
    #[error("malformed packet: {0}")]
    Malformed(String),
}

/// Why the first packet is not an acceptable CONNECT.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("unsupported protocol (only MQTT 3.1.1 and 5)")]
    Version,
    #[error("the first packet is not a CONNECT")]
    NotConnect,
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Reads the CONNECT from the start of `buf`; `Ok(None)` until it is complete. The protocol
/// level decides which codec reads it (and every later packet of the connection).
pub(crate) fn read_connect(buf: &mut BytesMut, max: usize) -> Result<Option<Connect>, ConnectError> {
    // Try MQTT 5 on a copy (once per connection): it refuses level 4 without consuming, and
    // level 4 is then read by the 3.1.1 codec, which would misread a level-5 CONNECT.
    let mut probe = buf.clone();
    match v5::read_connect(&mut probe, max) {
        v5::Probe::OtherLevel(4) => v4::read_connect(buf, max),
        v5::Probe::OtherLevel(_) => Err(ConnectError::Version),
        v5::Probe::Read(result) => {
            if matches!(result, Ok(Some(_))) {
                *buf = probe;
            }
            result
        }
    }
}

/// Reads the next packet from `buf`; `Ok(None)` until one is complete.
pub(crate) fn read(version: Version, buf: &mut BytesMut, max: usize) -> Result<Option<Inbound>, DecodeError> {
    match version {
        Version::V311 => v4::read(buf, max),
        Version::V5 => v5::read(buf, max),
    }
}

/// Appends a packet to `buf`.
pub(crate) fn write(version: Version, packet: Outbound, buf: &mut BytesMut) {
    match version {
        Version::V311 => v4::write(packet, buf),
        Version::V5 => v5::write(packet, buf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_outbound() -> Vec<Outbound> {
        let limits = Limits { receive_max: 10, max_packet_bytes: 1024 };
        let mut all = vec![
            Outbound::ConnAck { result: Ok(true), assigned_client_id: Some("auto-1".into()), limits },
            Outbound::PubAck { pkid: 1, dropped: None },
            Outbound::PubAck { pkid: 2, dropped: Some(DropReason::Invalid) },
            Outbound::SubAckRefused { pkid: 3, filters: 2 },
            Outbound::UnsubAck { pkid: 4, filters: 1 },
            Outbound::PingResp,
        ];
        for refusal in [
            Refusal::Protocol,
            Refusal::ClientId,
            Refusal::Unavailable,
            Refusal::Credentials,
            Refusal::NotAuthorized,
        ] {
            all.push(Outbound::ConnAck { result: Err(refusal), assigned_client_id: None, limits });
        }
        for close in [
            Close::NotAuthorized,
            Close::QosNotSupported,
            Close::KeepAliveTimeout,
            Close::ShuttingDown,
            Close::Busy,
        ] {
            all.push(Outbound::Disconnect(close));
        }
        all
    }

    #[test]
    fn every_packet_written_to_an_mqtt5_client_reads_back_whole_with_the_client_codec() {
        for packet in every_outbound() {
            let mut buf = BytesMut::new();
            write(Version::V5, packet.clone(), &mut buf);
            let read = rumqttc::v5::mqttbytes::v5::Packet::read(&mut buf, None);
            assert!(read.is_ok(), "{packet:?}: {read:?}");
            assert!(buf.is_empty(), "{packet:?} left {} stray bytes", buf.len());
        }
    }

    #[test]
    fn every_packet_written_to_an_mqtt311_client_reads_back_whole_with_the_client_codec() {
        for packet in every_outbound() {
            let mut buf = BytesMut::new();
            write(Version::V311, packet.clone(), &mut buf);
            if buf.is_empty() {
                assert!(matches!(packet, Outbound::Disconnect(_)), "only DISCONNECT is not sent in 3.1.1");
                continue;
            }
            let read = rumqttc::mqttbytes::v4::Packet::read(&mut buf, usize::MAX);
            assert!(read.is_ok(), "{packet:?}: {read:?}");
            assert!(buf.is_empty(), "{packet:?} left {} stray bytes", buf.len());
        }
    }

    #[test]
    fn the_protocol_level_of_the_connect_picks_the_codec() {
        let mut v4 = BytesMut::new();
        rumqttc::mqttbytes::v4::Packet::Connect(rumqttc::mqttbytes::v4::Connect::new("a"))
            .write(&mut v4, usize::MAX)
            .unwrap();
        assert_eq!(read_connect(&mut v4, 1024).unwrap().unwrap().version, Version::V311);
        let mut v5 = BytesMut::new();
        let connect = rumqttc::v5::mqttbytes::v5::Connect {
            keep_alive: 5,
            client_id: "b".into(),
            clean_start: true,
            properties: None,
        };
        rumqttc::v5::mqttbytes::v5::Packet::Connect(connect, None, None).write(&mut v5, None).unwrap();
        let half = v5.split_to(v5.len() / 2);
        let mut partial = half.clone();
        assert!(read_connect(&mut partial, 1024).unwrap().is_none(), "incomplete: wait for more bytes");
        let mut whole = half;
        whole.unsplit(v5);
        let connect = read_connect(&mut whole, 1024).unwrap().unwrap();
        assert_eq!((connect.version, connect.client_id.as_str(), connect.keep_alive), (Version::V5, "b", 5));
        assert!(whole.is_empty());
    }
}
