//! One client connection, from the first byte to the close: the CONNECT and its
//! authentication here, the session (publishes, answers, keep-alive) in [`session`].
//!
//! The MQTT user name is the tenant slug and the password an API token of that tenant. A
//! refusal is always a CONNACK with the matching return code, never a silently dropped socket,
//! so a device can tell a wrong token (fix the configuration) from a network problem (retry).

mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::BytesMut;
use microdash_usecases::{AuthError, AuthService, ErrorChain, IngestService, Principal};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::coalescer::{Coalescer, Sender};
use crate::options::EndpointOptions;
use crate::protocol::{self, Connect, ConnectError, Limits, Outbound, Refusal, Version};
use crate::sessions::{SessionRequest, Sessions};
use crate::telemetry::{ConnectRefused, MqttMetrics, MqttMetricsRef};

/// Bytes read from the socket at a time. Small, because idle connections keep their buffer:
/// 10,000 of them hold 20 MiB at this size.
const READ_CHUNK: usize = 2 * 1024;

/// A read buffer grown past this by a big packet is released once empty, so one large batch
/// does not pin memory for the rest of the connection.
const KEEP_READ_BUFFER: usize = 64 * 1024;

/// Longest wait for a client to take our bytes; a client that stops reading is cut.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything connections share.
pub(crate) struct Shared {
    pub auth: Arc<AuthService>,
    pub ingest: Arc<IngestService>,
    pub coalescer: Coalescer,
    pub sessions: Sessions,
    pub metrics: MqttMetricsRef,
    pub options: EndpointOptions,
    /// Numbers connections, to tell a taken-over connection from its successor.
    pub next_connection: AtomicU64,
}

/// Counts the connection as open for as long as it lives.
struct OpenGuard<'a>(&'a MqttMetrics);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.connection_ended();
    }
}

/// The socket with its buffers.
pub(crate) struct Io<S> {
    stream: S,
    rbuf: BytesMut,
    wbuf: BytesMut,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Io<S> {
    /// Reads more bytes; `Ok(0)` at end of stream.
    async fn read_more(&mut self) -> std::io::Result<usize> {
        if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
            self.rbuf.reserve(READ_CHUNK);
        }
        self.stream.read_buf(&mut self.rbuf).await
    }

    /// Releases a read buffer a big packet left large.
    fn trim(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > KEEP_READ_BUFFER {
            self.rbuf = BytesMut::with_capacity(READ_CHUNK);
        }
    }

    fn push(&mut self, version: Version, packet: Outbound) {
        protocol::write(version, packet, &mut self.wbuf);
    }

    /// Writes out what is buffered.
    async fn flush(&mut self) -> std::io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let write = async {
            self.stream.write_all(&self.wbuf).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(WRITE_TIMEOUT, write).await {
            Ok(result) => {
                self.wbuf.clear();
                result
            }
            Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the client stopped reading")),
        }
    }
}

/// Serves one connection until it ends; `stop` asks it to finish (server shutdown).
pub(crate) async fn serve<S>(stream: S, peer: SocketAddr, shared: Arc<Shared>, stop: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    shared.metrics.connection_opened();
    let _open = OpenGuard(&shared.metrics);
    let mut io = Io { stream, rbuf: BytesMut::with_capacity(READ_CHUNK), wbuf: BytesMut::new() };
    let max = shared.options.max_packet_bytes;
    let connect = match tokio::time::timeout(shared.options.connect_timeout, read_connect(&mut io, max)).await
    {
        Ok(Ok(Some(connect))) => connect,
        Ok(Ok(None)) => return,
        Ok(Err(ConnectError::Version)) => {
            let peer: &dyn std::fmt::Display = &peer;
            ConnectRefused { refusal: Refusal::Protocol, client_id: "", user: "", peer }
                .emit(&shared.metrics);
            refuse(&mut io, Version::V311, Refusal::Protocol, &shared).await;
            return;
        }
        Ok(Err(error)) => {
            tracing::debug!(peer = %peer, error = %error, "MQTT connection closed before a valid CONNECT.");
            return;
        }
        Err(_) => {
            tracing::debug!(peer = %peer, "MQTT connection sent no CONNECT in time.");
            return;
        }
    };
    let (principal, client_id) = match admit(&connect, &shared).await {
        Ok(admitted) => admitted,
        Err(refusal) => {
            let user = connect.login.as_ref().map_or("", |(u, _)| u.as_str());
            let peer: &dyn std::fmt::Display = &peer;
            ConnectRefused { refusal, client_id: &connect.client_id, user, peer }.emit(&shared.metrics);
            refuse(&mut io, connect.version, refusal, &shared).await;
            return;
        }
    };
    let connection = shared.next_connection.fetch_add(1, Relaxed);
    let request = SessionRequest {
        tenant: principal.tenant,
        client_id: &client_id,
        connection,
        clean_start: connect.clean_start,
        expiry: match (connect.version, connect.session_expiry) {
            (Version::V311, _) | (Version::V5, u32::MAX) => None,
            (Version::V5, secs) => Some(Duration::from_secs(u64::from(secs))),
        },
    };
    let (present, kick) = shared.sessions.open(&request);
    let assigned =
        (connect.client_id.is_empty() && connect.version == Version::V5).then(|| client_id.clone());
    io.push(
        connect.version,
        Outbound::ConnAck { result: Ok(present), assigned_client_id: assigned, limits: limits(&shared) },
    );
    if io.flush().await.is_ok() {
        tracing::debug!(peer = %peer, client_id = %client_id, tenant = %principal.tenant_slug, "MQTT client connected.");
        let tenant = principal.tenant;
        let keep_alive = connect.keep_alive;
        let session = session::Session::new(
            io,
            connect.version,
            Arc::new(Sender::Token(principal)),
            client_id.clone(),
            &shared,
        );
        session.run(keep_alive, &stop, &kick).await;
        shared.sessions.close(tenant, &client_id, connection);
    } else {
        shared.sessions.close(principal.tenant, &client_id, connection);
    }
}

async fn read_connect<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut Io<S>,
    max: usize,
) -> Result<Option<Connect>, ConnectError> {
    loop {
        if let Some(connect) = protocol::read_connect(&mut io.rbuf, max)? {
            return Ok(Some(connect));
        }
        match io.read_more().await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
    }
}

/// Authenticates the CONNECT and settles its client id.
async fn admit(connect: &Connect, shared: &Shared) -> Result<(Principal, String), Refusal> {
    let Some((user, token)) = &connect.login else { return Err(Refusal::NotAuthorized) };
    let principal = match shared.auth.authenticate(token).await {
        Ok(p) if p.tenant_slug.as_str() == user => p,
        // Another tenant's token is a wrong password for this user name, and says no more.
        Ok(_) | Err(AuthError::InvalidToken) => return Err(Refusal::Credentials),
        Err(AuthError::Store(error)) => {
            tracing::error!(error = %ErrorChain(&error), "Cannot check MQTT credentials: the token store failed.");
            return Err(Refusal::Unavailable);
        }
    };
    let client_id = if connect.client_id.is_empty() {
        // 3.1.1 cannot tell the client an assigned id, so it cannot resume a session under it.
        if connect.version == Version::V311 && !connect.clean_start {
            return Err(Refusal::ClientId);
        }
        format!("auto-{}", uuid::Uuid::new_v4().simple())
    } else {
        connect.client_id.clone()
    };
    Ok((principal, client_id))
}

async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut Io<S>,
    version: Version,
    refusal: Refusal,
    shared: &Shared,
) {
    io.push(
        version,
        Outbound::ConnAck { result: Err(refusal), assigned_client_id: None, limits: limits(shared) },
    );
    if io.flush().await.is_ok() {
        let _ = tokio::time::timeout(WRITE_TIMEOUT, io.stream.shutdown()).await;
    }
}

fn limits(shared: &Shared) -> Limits {
    Limits {
        receive_max: shared.options.max_inflight,
        max_packet_bytes: u32::try_from(shared.options.max_packet_bytes).unwrap_or(u32::MAX),
    }
}
