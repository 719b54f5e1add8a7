//! MQTT publishing: one QoS 1 message per batch to `metrics/{tenant}/{agent_id}`, with the
//! on-disk spool behind it while the broker is unreachable.
//!
//! # Layout
//! - [`BrokerUrl`] and [`Session`]: one connection attempt; the rumqttc event loop runs in its own
//!   task (it must be polled continuously) and forwards what the outbox needs as [`SessionEvent`]s.
//!   A failed session is dropped whole and a new one is made after a backoff, so rumqttc never
//!   re-sends anything by itself: the spool is the only source of retries.
//! - [`outbox`]: which batch goes to the broker and which to the spool, PUBACK bookkeeping,
//!   replay pacing.
//! - [`backoff`]: exponential reconnect delay with jitter.
//! - [`tls`]: rustls client configuration (CA file or, for tests, no verification).

pub mod backoff;
pub mod outbox;
pub mod tls;

use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, Outgoing, Packet, Transport,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::Config;

/// Largest MQTT packet in either direction: a batch of a big host (many cores, mounts and
/// interfaces) is tens of KiB; rumqttc's 10 KiB default would refuse it.
const MAX_PACKET_BYTES: usize = 1024 * 1024;

/// Keep-alive: short enough to notice a dead broker within a minute.
const KEEP_ALIVE: Duration = Duration::from_secs(30);

pub use microdash_domain::mqtt::BrokerUrl;

/// What the outbox learns from the connection.
#[derive(Debug)]
pub enum SessionEvent {
    /// CONNACK received: publishing may start.
    Connected,
    /// A publish with this packet id was written to the network.
    Sent(u16),
    /// The broker acknowledged the publish with this packet id.
    Acked(u16),
    /// The session ended; a new one is needed.
    Failed {
        /// The broker refused the credentials (see [`is_auth_failure`]).
        auth: bool,
        /// What happened, for the log.
        error: String,
    },
}

/// One connection attempt and, if it succeeds, the connection.
#[derive(Debug)]
pub struct Session {
    /// Handle to queue publishes.
    pub client: AsyncClient,
    /// Events from the event loop task.
    pub events: mpsc::UnboundedReceiver<SessionEvent>,
    task: JoinHandle<()>,
}

impl Session {
    /// Starts connecting; progress arrives on [`Session::events`].
    ///
    /// # Errors
    /// The TLS configuration could not be built (unreadable CA file).
    pub fn start(cfg: &Config, url: &BrokerUrl, max_inflight: u16) -> Result<Self, String> {
        let client_id = format!("microdash-{}-{}", cfg.tenant.as_deref().unwrap_or(""), cfg.agent_id());
        let mut o = MqttOptions::new(client_id, url.host.clone(), url.port);
        o.set_keep_alive(KEEP_ALIVE)
            .set_clean_session(true)
            .set_inflight(max_inflight)
            .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
        if let Some(tenant) = &cfg.tenant {
            let token = cfg.token.as_ref().map(|t| t.expose().to_owned()).unwrap_or_default();
            o.set_credentials(tenant.clone(), token);
        }
        if url.tls {
            o.set_transport(Transport::tls_with_config(tls::client_config(cfg)?));
        }
        let (client, mut eventloop) = AsyncClient::new(o, usize::from(max_inflight) * 2);
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let ev = match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => SessionEvent::Connected,
                    Ok(Event::Incoming(Packet::PubAck(ack))) => SessionEvent::Acked(ack.pkid),
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => SessionEvent::Sent(pkid),
                    Ok(_) => continue,
                    Err(e) => {
                        let _ =
                            tx.send(SessionEvent::Failed { auth: is_auth_failure(&e), error: e.to_string() });
                        return;
                    }
                };
                if tx.send(ev).is_err() {
                    return;
                }
            }
        });
        Ok(Self { client, events, task })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether a connection error means the broker refused our credentials (fix the config)
/// rather than a network problem (wait and retry).
pub fn is_auth_failure(e: &ConnectionError) -> bool {
    matches!(
        e,
        ConnectionError::ConnectionRefused(
            ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized
        )
    )
}

/// The topic of an agent's batches.
pub fn topic(tenant: &str, agent_id: &str) -> String {
    format!("metrics/{tenant}/{agent_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_credentials_are_told_apart_from_network_errors() {
        let auth = ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized);
        let net = ConnectionError::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(is_auth_failure(&auth));
        assert!(!is_auth_failure(&net));
    }
}
