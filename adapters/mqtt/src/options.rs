//! Settings of the endpoint and the bridge: plain structs (no clap here; `bin` maps its flags
//! onto them), with defaults that suit the embedded deployment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use microdash_domain::mqtt::BrokerUrl;

/// Settings of the device endpoint.
#[derive(Debug, Clone)]
pub struct EndpointOptions {
    /// Plain MQTT listener. Port 0 picks a free port.
    pub addr: SocketAddr,
    /// When `addr`'s port is taken, try up to this many following ports before giving up.
    /// Meant for a default address only (1883 is often a local Mosquitto's); keep 0 for an
    /// address the user chose, so that a busy port fails fast.
    pub port_fallback: u16,
    /// The TLS listener, if any.
    pub tls: Option<TlsOptions>,
    /// Largest packet accepted; a larger one closes the connection. 1 MiB: what the edge
    /// agent may send for a big host.
    pub max_packet_bytes: usize,
    /// Messages of one connection received but not yet answered (queued or dropped); past
    /// it the connection is not read until answers catch up, which is the back-pressure a
    /// client feels. Also announced to MQTT 5 clients as their receive maximum.
    pub max_inflight: u16,
    /// Time a new connection has to send its CONNECT (and finish the TLS handshake).
    pub connect_timeout: Duration,
    /// How messages are batched into queue entries.
    pub coalesce: CoalesceOptions,
    /// On shutdown, how long connections get to have their last batches queued and
    /// acknowledged before they are cut (their clients resend what was not acknowledged).
    pub shutdown_grace: Duration,
}

impl EndpointOptions {
    /// Defaults listening on `addr`, without TLS.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            port_fallback: 0,
            tls: None,
            max_packet_bytes: 1024 * 1024,
            max_inflight: 256,
            connect_timeout: Duration::from_secs(10),
            coalesce: CoalesceOptions::default(),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// The TLS listener.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// Address of the MQTT-over-TLS listener (8883 is customary).
    pub addr: SocketAddr,
    /// PEM file with the server certificate, then its chain.
    pub cert: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// How messages of one sender (a token, or a tenant for the bridge) are batched: a batch
/// goes to the queue when it is `linger` old, or holds `max_messages` messages or
/// `max_samples` samples, whichever comes first.
#[derive(Debug, Clone, Copy)]
pub struct CoalesceOptions {
    /// How long the first message of a batch waits for others: the price in PUBACK latency
    /// of writing one queue entry for many messages. 1 ms: one sender publishing 100,000
    /// messages a second still fills about 100 messages per entry (many slow senders get
    /// entries of one or a few), and the PUBACK p99 measured 3.3 ms at 10,000 messages a
    /// second (README, `loadgen --mqtt`).
    pub linger: Duration,
    /// Most messages in one batch.
    pub max_messages: usize,
    /// Most samples in one batch (also capped at the sender's per-minute quota, so a batch
    /// can always be admitted).
    pub max_samples: usize,
    /// How long a batch may wait for quota or for room in the queue before its messages are
    /// given up (not acknowledged; the connections are closed so clients resend).
    pub max_hold: Duration,
}

impl Default for CoalesceOptions {
    fn default() -> Self {
        Self {
            linger: Duration::from_millis(1),
            max_messages: 1000,
            max_samples: 10_000,
            max_hold: Duration::from_secs(30),
        }
    }
}

/// Settings of the bridge from an external broker.
#[derive(Debug, Clone)]
pub struct BridgeOptions {
    /// Broker host name or address.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Connect with TLS (`mqtts://`), trusting `ca_file` or the system's CA bundle.
    pub tls: bool,
    /// PEM bundle of the CAs to trust for TLS; default the system bundle.
    pub ca_file: Option<PathBuf>,
    /// User name and password at the broker.
    pub credentials: Option<(String, String)>,
    /// Client id at the broker. Stable across restarts, so the broker keeps the persistent
    /// session (and the messages that arrive while the bridge is down).
    pub client_id: String,
    /// Keep the session at the broker across disconnections (the default), so messages that
    /// arrive while the bridge is away are kept for it and unacknowledged ones come again.
    /// Turn off only for throw-away bridges (tests), or the broker keeps their sessions.
    pub persistent_session: bool,
    /// Shared-subscription group: bridges in one group split the messages between them.
    pub share_group: String,
    /// Topic filter to bridge.
    pub filter: String,
    /// Keep-alive with the broker.
    pub keep_alive: Duration,
    /// Unacknowledged messages the broker may have in flight to the bridge.
    pub max_inflight: u16,
    /// Largest packet accepted from the broker.
    pub max_packet_bytes: usize,
    /// Time to wait for the CONNACK and the SUBACK at start.
    pub connect_timeout: Duration,
    /// How messages are batched into queue entries, per tenant.
    pub coalesce: CoalesceOptions,
    /// On shutdown, how long to wait for the last batches to be queued and acknowledged.
    pub shutdown_grace: Duration,
}

impl BridgeOptions {
    /// Parses `mqtt://host[:port]` or `mqtts://host[:port]` (`[v6]:port` for IPv6), with
    /// defaults for everything else.
    ///
    /// # Errors
    /// A message naming what is wrong with the URL.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let BrokerUrl { host, port, tls } = BrokerUrl::parse(url)?;
        Ok(Self {
            host,
            port,
            tls,
            ca_file: None,
            credentials: None,
            client_id: "microdash-bridge".to_owned(),
            persistent_session: true,
            share_group: "microdash".to_owned(),
            filter: "metrics/#".to_owned(),
            keep_alive: Duration::from_secs(30),
            max_inflight: 1000,
            max_packet_bytes: 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            coalesce: CoalesceOptions::default(),
            shutdown_grace: Duration::from_secs(10),
        })
    }

    /// The subscription: `$share/{group}/{filter}`.
    pub fn subscription(&self) -> String {
        format!("$share/{}/{}", self.share_group, self.filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_urls_give_host_port_and_tls() {
        let o = BridgeOptions::from_url("mqtt://127.0.0.1:1884").unwrap();
        assert_eq!((o.host.as_str(), o.port, o.tls), ("127.0.0.1", 1884, false));
        let o = BridgeOptions::from_url("mqtts://broker.example").unwrap();
        assert_eq!((o.host.as_str(), o.port, o.tls), ("broker.example", 8883, true));
        let o = BridgeOptions::from_url("mqtt://[::1]").unwrap();
        assert_eq!((o.host.as_str(), o.port), ("::1", 1883));
        assert_eq!(o.subscription(), "$share/microdash/metrics/#");
    }
}
