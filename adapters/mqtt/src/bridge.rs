//! The bridge from an external broker (Mosquitto, EMQX, rumqttd): a rumqttc client on the
//! shared subscription `$share/{group}/metrics/#`, so several bridges split the messages.
//!
//! The broker authenticated the devices and enforces who may publish where (with Mosquitto:
//! `pattern write metrics/%u/#`, see `deploy/mosquitto/`), so the tenant named in the topic is
//! trusted; a topic naming no existing tenant is dropped and counted. Messages are
//! acknowledged by hand, only once their batch is queued; the session is persistent, so what
//! the broker delivered but the bridge did not acknowledge comes again after a reconnect.
//!
//! # Layout
//! - this file: [`Bridge`], connecting, the event loop task and the message loop.
//! - `messages`: one message from topic to samples to acknowledgement.

mod messages;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use microdash_usecases::IngestService;
use microdash_usecases::ingest::TenantDirectory;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS,
    SubscribeReasonCode, TlsConfiguration, Transport,
};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::coalescer::Coalescer;
use crate::options::BridgeOptions;
use crate::telemetry::{MqttMetrics, MqttMetricsRef};

/// Where Debian-family systems keep the trusted CA bundle, the default for `mqtts://`.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Wait between reconnection attempts; short, since the broker holds our session meanwhile.
const RECONNECT_WAIT: Duration = Duration::from_secs(1);

/// Why the bridge could not start.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The broker answered the CONNECT with a refusal.
    #[error("the broker at {addr} refused the connection ({code}); check --mqtt-url's credentials")]
    Refused {
        /// `host:port`.
        addr: String,
        /// The CONNACK return code.
        code: String,
    },
    /// The broker cannot be reached.
    #[error("cannot reach the broker at {addr}: {message}")]
    Unreachable {
        /// `host:port`.
        addr: String,
        /// What failed.
        message: String,
    },
    /// The broker refused the subscription (an ACL without read access to the topics).
    #[error(
        "the broker refused the subscription to {subscription}; its ACL must let the bridge's user read {filter}"
    )]
    SubscriptionRefused {
        /// What was subscribed to.
        subscription: String,
        /// The topic filter.
        filter: String,
    },
    /// The TLS settings are unusable.
    #[error("bridge TLS: {0}")]
    Tls(String),
}

/// A bridge, connected and subscribed, ready to [`run`](Bridge::run).
pub struct Bridge {
    client: AsyncClient,
    eventloop: EventLoop,
    /// Publishes that arrived while waiting for the SUBACK (a resumed session delivers at once).
    early: Vec<Publish>,
    options: BridgeOptions,
    ingest: Arc<IngestService>,
    tenants: Arc<TenantDirectory>,
    metrics: MqttMetricsRef,
}

impl Bridge {
    /// Connects to the broker and subscribes, so that wrong credentials, an unreachable
    /// broker or a refused subscription fail here, at start, with a clear error.
    ///
    /// # Errors
    /// [`BridgeError`] saying which of these happened.
    pub async fn connect(
        options: BridgeOptions,
        ingest: Arc<IngestService>,
        tenants: Arc<TenantDirectory>,
    ) -> Result<Self, BridgeError> {
        let addr = format!("{}:{}", options.host, options.port);
        let mut o = MqttOptions::new(options.client_id.clone(), options.host.clone(), options.port);
        o.set_keep_alive(options.keep_alive)
            .set_clean_session(!options.persistent_session)
            .set_manual_acks(true)
            .set_max_packet_size(options.max_packet_bytes, options.max_packet_bytes);
        if let Some((user, password)) = &options.credentials {
            o.set_credentials(user.clone(), password.clone());
        }
        if options.tls {
            o.set_transport(Transport::tls_with_config(client_tls(options.ca_file.as_deref())?));
        }
        let (client, mut eventloop) = AsyncClient::new(o, usize::from(options.max_inflight).max(16));
        let mut early = Vec::new();
        let subscription = options.subscription();
        let handshake = async {
            wait_for(&mut eventloop, &mut early, &addr, |p| matches!(p, Packet::ConnAck(_))).await?;
            let subscribed = client.subscribe(subscription.clone(), QoS::AtLeastOnce);
            subscribed
                .await
                .map_err(|e| BridgeError::Unreachable { addr: addr.clone(), message: e.to_string() })?;
            match wait_for(&mut eventloop, &mut early, &addr, |p| matches!(p, Packet::SubAck(_))).await? {
                Packet::SubAck(ack)
                    if ack.return_codes.iter().all(|c| *c != SubscribeReasonCode::Failure) =>
                {
                    Ok(())
                }
                _ => Err(BridgeError::SubscriptionRefused {
                    subscription: subscription.clone(),
                    filter: options.filter.clone(),
                }),
            }
        };
        match tokio::time::timeout(options.connect_timeout, handshake).await {
            Ok(result) => result?,
            Err(_) => {
                let message = format!("no CONNACK and SUBACK within {:?}", options.connect_timeout);
                return Err(BridgeError::Unreachable { addr, message });
            }
        }
        tracing::info!(broker = %addr, subscription = %subscription, "MQTT bridge subscribed.");
        Ok(Self {
            client,
            eventloop,
            early,
            options,
            ingest,
            tenants,
            metrics: Arc::new(MqttMetrics::new("bridge")),
        })
    }

    /// The bridge's counters (for `/metrics` and tests).
    pub fn metrics(&self) -> MqttMetricsRef {
        self.metrics.clone()
    }

    /// Bridges messages until `shutdown` completes; then stops taking messages, has the ones
    /// in flight queued and acknowledged (for at most the shutdown grace), and disconnects.
    /// What is left unacknowledged is redelivered by the broker later (to this bridge's
    /// session, or to another bridge of the group).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let Self { client, eventloop, early, options, ingest, tenants, metrics } = self;
        let stop = CancellationToken::new();
        let reconnect = Arc::new(Notify::new());
        let (tx, rx) = mpsc::channel(usize::from(options.max_inflight).max(16));
        for publish in early {
            let _ = tx.try_send(publish);
        }
        let events = tokio::spawn(poll_events(
            eventloop,
            client.clone(),
            options.subscription(),
            tx,
            stop.clone(),
            reconnect.clone(),
        ));
        let coalescer = Coalescer::new(ingest.clone(), options.coalesce, metrics.clone());
        let worker = messages::Worker {
            client: client.clone(),
            ingest,
            tenants,
            coalescer: coalescer.clone(),
            metrics,
            reconnect,
        };
        worker.run(rx, usize::from(options.max_inflight), shutdown, options.shutdown_grace).await;
        coalescer.close();
        let _ = tokio::time::timeout(options.shutdown_grace, coalescer.drained()).await;
        // The DISCONNECT queues behind the last acknowledgements; the event loop task ends
        // once it is sent.
        let _ = tokio::time::timeout(Duration::from_secs(1), client.disconnect()).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), events).await;
        stop.cancel();
        tracing::info!("MQTT bridge stopped.");
    }
}

/// Polls the event loop until a packet `wanted` arrives; keeps publishes that come first.
async fn wait_for(
    eventloop: &mut EventLoop,
    early: &mut Vec<Publish>,
    addr: &str,
    wanted: impl Fn(&Packet) -> bool,
) -> Result<Packet, BridgeError> {
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::Publish(p))) => early.push(p),
            Ok(Event::Incoming(p)) if wanted(&p) => return Ok(p),
            Ok(_) => {}
            Err(ConnectionError::ConnectionRefused(code)) => {
                return Err(BridgeError::Refused { addr: addr.to_owned(), code: format!("{code:?}") });
            }
            Err(e) => return Err(BridgeError::Unreachable { addr: addr.to_owned(), message: e.to_string() }),
        }
    }
}

/// The event loop task: must be polled all the time (acknowledgements and pings go out from
/// here); hands publishes to the worker, resubscribes when the broker lost the session, and
/// reconnects after errors or when the worker asks (to have unacknowledged messages resent).
async fn poll_events(
    mut eventloop: EventLoop,
    client: AsyncClient,
    subscription: String,
    tx: mpsc::Sender<Publish>,
    stop: CancellationToken,
    reconnect: Arc<Notify>,
) {
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            () = reconnect.notified() => {
                eventloop.clean();
                continue;
            }
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                // A full channel means the worker is behind: not reading the socket meanwhile
                // is the back-pressure the broker should feel.
                tokio::select! {
                    () = stop.cancelled() => return,
                    sent = tx.send(publish) => if sent.is_err() { return },
                }
            }
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                tracing::info!(
                    session_present = ack.session_present,
                    "MQTT bridge reconnected to the broker."
                );
                if !ack.session_present {
                    let _ = client.try_subscribe(subscription.clone(), QoS::AtLeastOnce);
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(error = %error, "MQTT bridge lost the broker; reconnecting.");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(RECONNECT_WAIT) => {}
                }
            }
        }
    }
}

/// rustls client settings trusting `ca_file` (default: the system bundle), on the ring
/// provider passed explicitly (no process default may be installed).
fn client_tls(ca_file: Option<&Path>) -> Result<TlsConfiguration, BridgeError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let path = ca_file.unwrap_or(Path::new(SYSTEM_CA_BUNDLE));
    let bad = |e: &dyn std::fmt::Display| {
        BridgeError::Tls(format!("cannot read CA certificates from {}: {e}", path.display()))
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
        roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BridgeError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConfiguration::Rustls(Arc::new(config)))
}
