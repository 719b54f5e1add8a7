//! The device endpoint: bound listeners (plain and TLS), the accept loop, and a shutdown that
//! stops accepting, lets connections acknowledge what they have in flight, and returns.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use microdash_usecases::{AuthService, IngestService};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::coalescer::Coalescer;
use crate::connection::{self, Shared};
use crate::options::EndpointOptions;
use crate::sessions::Sessions;
use crate::telemetry::{MqttMetrics, MqttMetricsRef};

/// Pause after a failed `accept` (out of file descriptors, typically), so the loop does not
/// spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The address cannot be listened on.
    #[error(
        "cannot listen for MQTT on {addr}: {source} (is another program using it? choose another address)"
    )]
    Listen {
        /// The address tried (the last one, with a port fallback).
        addr: SocketAddr,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("MQTT TLS listener: {message}")]
    Tls {
        /// What is wrong, naming the file.
        message: String,
    },
}

/// The ingest-only MQTT device endpoint, bound and ready to [`run`](MqttEndpoint::run).
pub struct MqttEndpoint {
    tcp: TcpListener,
    tcp_addr: SocketAddr,
    tls: Option<(TcpListener, SocketAddr, TlsAcceptor)>,
    shared: Arc<Shared>,
}

impl MqttEndpoint {
    /// Binds the listeners (plain, and TLS when configured). Only services cross in:
    /// authentication and ingest are the use cases' business.
    ///
    /// # Errors
    /// [`BindError`] when a port cannot be bound or the certificate cannot be loaded.
    pub async fn bind(
        options: EndpointOptions,
        auth: Arc<AuthService>,
        ingest: Arc<IngestService>,
    ) -> Result<Self, BindError> {
        let (tcp, tcp_addr) = listen(options.addr, options.port_fallback).await?;
        let tls = match &options.tls {
            Some(tls) => {
                let acceptor = crate::tls::acceptor(tls)?;
                let (listener, addr) = listen(tls.addr, 0).await?;
                Some((listener, addr, acceptor))
            }
            None => None,
        };
        let metrics = Arc::new(MqttMetrics::new("endpoint"));
        let shared = Arc::new(Shared {
            auth,
            coalescer: Coalescer::new(ingest.clone(), options.coalesce, metrics.clone()),
            ingest,
            sessions: Sessions::default(),
            metrics,
            options,
            next_connection: AtomicU64::new(0),
        });
        Ok(Self { tcp, tcp_addr, tls, shared })
    }

    /// The plain listener's address (the real port when 0 or a fallback was used).
    pub fn local_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    /// The TLS listener's address, if there is one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().map(|(_, addr, _)| *addr)
    }

    /// The endpoint's counters (for `/metrics` and tests).
    pub fn metrics(&self) -> MqttMetricsRef {
        self.shared.metrics.clone()
    }

    /// Serves until `shutdown` completes; then stops accepting, lets every connection have
    /// its in-flight messages queued and acknowledged (for at most the shutdown grace), and
    /// returns once the last batch is queued. Run it to completion before closing the queue.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let Self { tcp, tcp_addr, tls, shared } = self;
        let stop = CancellationToken::new();
        let mut connections = JoinSet::new();
        tracing::info!(addr = %tcp_addr, tls_addr = ?tls.as_ref().map(|t| t.1), "MQTT endpoint listening.");
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = tcp.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        connections.spawn(connection::serve(stream, peer, shared.clone(), stop.clone()));
                    }
                    Err(error) => accept_failed(&error).await,
                },
                accepted = accept_tls(&tls) => match accepted {
                    Ok((stream, peer, acceptor)) => {
                        connections.spawn(handshake(stream, peer, acceptor, shared.clone(), stop.clone()));
                    }
                    Err(error) => accept_failed(&error).await,
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop((tcp, tls));
        tracing::info!(
            connections = connections.len(),
            "MQTT endpoint stopped accepting; acknowledging what is in flight."
        );
        shared.coalescer.close();
        stop.cancel();
        let drained = async {
            while connections.join_next().await.is_some() {}
            shared.coalescer.drained().await;
        };
        if tokio::time::timeout(shared.options.shutdown_grace, drained).await.is_err() {
            tracing::warn!(
                connections = connections.len(),
                "MQTT shutdown grace over; cutting the remaining connections (their clients resend what was not acknowledged)."
            );
            connections.abort_all();
        }
        tracing::info!("MQTT endpoint stopped.");
    }
}

async fn listen(addr: SocketAddr, fallback: u16) -> Result<(TcpListener, SocketAddr), BindError> {
    let mut try_addr = addr;
    loop {
        match TcpListener::bind(try_addr).await {
            Ok(listener) => {
                let bound =
                    listener.local_addr().map_err(|source| BindError::Listen { addr: try_addr, source })?;
                if try_addr != addr {
                    tracing::warn!(busy = %addr, addr = %bound, "MQTT port is in use; listening on the next free port instead.");
                }
                return Ok((listener, bound));
            }
            Err(source)
                if source.kind() == std::io::ErrorKind::AddrInUse
                    && try_addr.port() < addr.port().saturating_add(fallback)
                    && try_addr.port() < u16::MAX =>
            {
                try_addr.set_port(try_addr.port() + 1);
            }
            Err(source) => return Err(BindError::Listen { addr: try_addr, source }),
        }
    }
}

async fn accept_tls(
    tls: &Option<(TcpListener, SocketAddr, TlsAcceptor)>,
) -> std::io::Result<(TcpStream, SocketAddr, TlsAcceptor)> {
    match tls {
        Some((listener, _, acceptor)) => {
            let (stream, peer) = listener.accept().await?;
            Ok((stream, peer, acceptor.clone()))
        }
        None => std::future::pending().await,
    }
}

async fn accept_failed(error: &std::io::Error) {
    tracing::error!(error = %error, "MQTT endpoint cannot accept connections; retrying shortly.");
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}

async fn handshake(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    match tokio::time::timeout(shared.options.connect_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => connection::serve(tls, peer, shared, stop).await,
        Ok(Err(error)) => tracing::debug!(peer = %peer, error = %error, "MQTT TLS handshake failed."),
        Err(_) => tracing::debug!(peer = %peer, "MQTT TLS handshake timed out."),
    }
}
