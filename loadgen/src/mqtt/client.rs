//! One MQTT 3.1.1 connection of the load generator, on rumqttc's packet codec over a plain
//! socket: a publisher keeps up to `inflight` QoS 1 messages unacknowledged and times each
//! from its send to its PUBACK. Not the rumqttc event loop: it costs several times the CPU per
//! message, which on a shared two-core machine would be taken from the server being measured.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::BytesMut;
use rumqttc::ConnectReturnCode;
use rumqttc::mqttbytes::v4::{ConnAck, Connect, Packet, Publish};
use rumqttc::mqttbytes::{Error as CodecError, QoS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::plan::Plan;

/// Longest wait for a CONNACK, or for any PUBACK while messages are in flight.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// What a publisher needs, shared by all of them.
pub(crate) struct Job {
    pub plan: Plan,
    /// `metrics/{tenant}/loadgen-{series}/{metric}`, one per series.
    pub topics: Vec<String>,
    pub inflight: usize,
    /// Messages per second over all clients; `None`: as fast as acknowledged.
    pub rate: Option<f64>,
    /// Stop sending after this long.
    pub duration: Option<Duration>,
    /// Next message index to send, shared so that fast clients take more.
    pub next: AtomicU64,
    /// PUBACKs received so far, for the progress line.
    pub acked: AtomicU64,
}

/// What one publisher measured.
pub(crate) struct Published {
    pub acked: u64,
    /// Send-to-PUBACK time of every message.
    pub latencies: Vec<Duration>,
    pub last_ack: Option<Instant>,
}

/// Opens a connection and waits for a successful CONNACK.
///
/// # Errors
/// The endpoint cannot be reached, or refuses the tenant and token (saying which code).
pub(crate) async fn connect(
    addr: SocketAddr,
    client_id: &str,
    tenant: &str,
    token: &str,
    keep_alive: u16,
) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot reach the MQTT endpoint at {addr}"))?;
    stream.set_nodelay(true)?;
    let mut connect = Connect::new(client_id);
    connect.keep_alive = keep_alive;
    connect.set_login(tenant, token);
    let mut out = BytesMut::new();
    Packet::Connect(connect).write(&mut out, usize::MAX)?;
    stream.write_all(&out).await?;
    let mut buf = BytesMut::with_capacity(64);
    match tokio::time::timeout(ANSWER_TIMEOUT, next_packet(&mut stream, &mut buf)).await {
        Ok(Ok(Some(Packet::ConnAck(ConnAck { code: ConnectReturnCode::Success, .. })))) => Ok(stream),
        Ok(Ok(Some(Packet::ConnAck(ConnAck { code, .. })))) => anyhow::bail!(
            "the MQTT endpoint refused the connection ({code:?}); check --mqtt-tenant (the user name) and --token"
        ),
        Ok(Ok(other)) => anyhow::bail!("expected a CONNACK from {addr}, got {other:?}"),
        Ok(Err(e)) => Err(e),
        Err(_) => anyhow::bail!("no CONNACK from {addr} within {ANSWER_TIMEOUT:?}"),
    }
}

/// Reads the next packet; `None` at the end of the stream.
async fn next_packet(stream: &mut TcpStream, buf: &mut BytesMut) -> anyhow::Result<Option<Packet>> {
    loop {
        match Packet::read(buf, 1 << 20) {
            Ok(packet) => return Ok(Some(packet)),
            Err(CodecError::InsufficientBytes(_)) => {}
            Err(e) => anyhow::bail!("unreadable packet from the endpoint: {e}"),
        }
        if stream.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

/// Publishes messages taken from `job` until the plan or the time is used up, then waits for
/// the last PUBACKs.
///
/// # Errors
/// The connection fails or the endpoint stops answering.
pub(crate) async fn publish(
    mut stream: TcpStream,
    job: Arc<Job>,
    started: Instant,
) -> anyhow::Result<Published> {
    let total = job.plan.batches();
    let stop_at = job.duration.map(|d| started + d);
    let mut out = Published { acked: 0, latencies: Vec::new(), last_ack: None };
    // Sent and not yet acknowledged, oldest first: PUBACKs come in publish order.
    let mut in_flight: VecDeque<(u16, Instant)> = VecDeque::with_capacity(job.inflight);
    let (mut rbuf, mut wbuf) = (BytesMut::with_capacity(4096), BytesMut::with_capacity(4096));
    let mut pkid: u16 = 0;
    let mut next = job.next.fetch_add(1, Relaxed);
    loop {
        let more = next < total;
        let due = match job.rate {
            Some(rate) => started + Duration::from_secs_f64(next as f64 / rate),
            None => started,
        };
        if more && stop_at.is_some_and(|stop| due.max(Instant::now()) >= stop) {
            next = total; // time is up: stop taking messages, collect the acknowledgements
            continue;
        }
        if !more && in_flight.is_empty() {
            return Ok(out);
        }
        let can_send = more && in_flight.len() < job.inflight;
        tokio::select! {
            read = tokio::time::timeout(ANSWER_TIMEOUT, stream.read_buf(&mut rbuf)), if !in_flight.is_empty() => {
                match read {
                    Ok(Ok(0)) => anyhow::bail!("the endpoint closed the connection with {} messages unacknowledged", in_flight.len()),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(e.into()),
                    Err(_) => anyhow::bail!("no PUBACK within {ANSWER_TIMEOUT:?}"),
                }
                let now = Instant::now();
                loop {
                    match Packet::read(&mut rbuf, 1 << 20) {
                        Ok(Packet::PubAck(ack)) => {
                            let Some((sent_id, sent_at)) = in_flight.pop_front() else {
                                anyhow::bail!("a PUBACK for a message never sent ({})", ack.pkid);
                            };
                            anyhow::ensure!(sent_id == ack.pkid, "PUBACK {} out of order (expected {sent_id})", ack.pkid);
                            out.latencies.push(now - sent_at);
                            out.acked += 1;
                            job.acked.fetch_add(1, Relaxed);
                            out.last_ack = Some(now);
                        }
                        Ok(other) => anyhow::bail!("unexpected packet from the endpoint: {other:?}"),
                        Err(CodecError::InsufficientBytes(_)) => break,
                        Err(e) => anyhow::bail!("unreadable packet from the endpoint: {e}"),
                    }
                }
            }
            () = tokio::time::sleep_until(due.into()), if can_send => {
                // Send every message already due that the window allows, in one write.
                let now = Instant::now();
                while next < total && in_flight.len() < job.inflight {
                    let due = job.rate.map_or(started, |rate| started + Duration::from_secs_f64(next as f64 / rate));
                    if due > now {
                        break;
                    }
                    pkid = if pkid == u16::MAX { 1 } else { pkid + 1 };
                    encode(&job, next, pkid, &mut wbuf)?;
                    in_flight.push_back((pkid, now));
                    next = job.next.fetch_add(1, Relaxed);
                }
                stream.write_all(&wbuf).await?;
                wbuf.clear();
            }
        }
    }
}

/// Message `i` of the plan: one sample of its series at its own millisecond.
fn encode(job: &Job, i: u64, pkid: u16, buf: &mut BytesMut) -> anyhow::Result<()> {
    let (series, ts) = job.plan.sample(i);
    let payload = format!(r#"{{"value":{},"timestamp":{ts}}}"#, i % 1000);
    let mut publish = Publish::new(job.topics[series as usize].as_str(), QoS::AtLeastOnce, payload);
    publish.pkid = pkid;
    Packet::Publish(publish).write(buf, usize::MAX)?;
    Ok(())
}
