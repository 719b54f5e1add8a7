//! A connected session: reads packets, turns each PUBLISH into samples for the coalescer,
//! answers in the order the publishes came (MQTT requires it), enforces the keep-alive and
//! ends cleanly.
//!
//! Every message takes a slot in `answers` until its batch is queued or it is dropped; at
//! `max_inflight` slots the socket is not read, so a client can never make the server buffer
//! more than that. A PUBACK is written only once the message's batch is in the queue.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use microdash_domain::MetricsTopic;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Io, Shared};
use crate::coalescer::{Outcome, Sender};
use crate::drop_reason::DropReason;
use crate::protocol::{self, Close, DecodeError, Inbound, Outbound, Publish, Version};
use crate::telemetry::{ConnectionClosed, MessageDropped, SubscribeRefused};

/// What to send once a message is settled.
enum Answer {
    /// PUBACK (QoS 1); `dropped` says the message was not stored.
    Ack { pkid: u16, dropped: Option<DropReason> },
    /// QoS 0: nothing to send.
    Nothing,
    /// The batch could not be queued: do not acknowledge, close so the client resends.
    Failed,
}

type Pending = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// Pause between the last acknowledgements of a closing session and the close itself.
const CLOSE_PAUSE: Duration = Duration::from_millis(100);

/// What reading decided.
enum Flow {
    Continue,
    /// The server ends the session for this reason.
    Close(Close, String),
    /// The client sent DISCONNECT.
    Left,
}

/// How the session loop ended.
enum Ending {
    Close(Close, String),
    /// The client left (DISCONNECT, end of stream, or a broken socket).
    Gone,
}

pub(super) struct Session<'a, S> {
    io: Io<S>,
    version: Version,
    sender: Arc<Sender>,
    client_id: String,
    answers: FuturesOrdered<Pending>,
    shared: &'a Shared,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin + Send> Session<'a, S> {
    pub(super) fn new(
        io: Io<S>,
        version: Version,
        sender: Arc<Sender>,
        client_id: String,
        shared: &'a Shared,
    ) -> Self {
        Self { io, version, sender, client_id, answers: FuturesOrdered::new(), shared }
    }

    /// Runs until the client leaves, breaks a rule, goes silent past the keep-alive, is taken
    /// over (`kick`) or the server stops (`stop`).
    pub(super) async fn run(
        mut self,
        keep_alive_secs: u16,
        stop: &CancellationToken,
        kick: &CancellationToken,
    ) {
        // MQTT: a server closes a connection silent for 1.5 times the keep-alive.
        let allowance =
            (keep_alive_secs > 0).then(|| Duration::from_millis(u64::from(keep_alive_secs) * 1500));
        let far = Duration::from_secs(365 * 86_400);
        let silence = tokio::time::sleep(allowance.unwrap_or(far));
        tokio::pin!(silence);
        let max_inflight = usize::from(self.shared.options.max_inflight).max(1);
        let mut was_reading = true;
        // Made once: a `cancelled()` future takes the token's lock when created.
        let (stopped, kicked) = (stop.cancelled(), kick.cancelled());
        tokio::pin!(stopped, kicked);
        let ending = loop {
            let reading = self.answers.len() < max_inflight;
            if reading && !was_reading {
                // While the socket was not read, silence was ours, not the client's.
                silence.as_mut().reset(Instant::now() + allowance.unwrap_or(far));
            }
            was_reading = reading;
            tokio::select! {
                biased;
                () = &mut stopped => break Ending::Close(Close::ShuttingDown, "server shutdown".into()),
                () = &mut kicked => {
                    break Ending::Close(Close::SessionTakenOver, "another connection took over the client id".into());
                }
                Some(answer) = self.answers.next(), if !self.answers.is_empty() => {
                    // Answer everything settled by now in one write.
                    let mut result = self.answer(answer);
                    while result.is_ok()
                        && let Some(Some(answer)) = self.answers.next().now_or_never()
                    {
                        result = self.answer(answer);
                    }
                    if let Err(ending) = result {
                        break ending;
                    }
                }
                read = self.io.read_more(), if reading => {
                    match read {
                        Ok(0) | Err(_) => break Ending::Gone,
                        Ok(_) => {}
                    }
                    if let Some(allowance) = allowance {
                        silence.as_mut().reset(Instant::now() + allowance);
                    }
                    match self.read_packets() {
                        Flow::Continue => {}
                        Flow::Close(close, detail) => break Ending::Close(close, detail),
                        Flow::Left => break Ending::Gone,
                    }
                    self.io.trim();
                }
                () = &mut silence, if reading && allowance.is_some() => {
                    break Ending::Close(Close::KeepAliveTimeout, format!("no packet for 1.5 × {keep_alive_secs} s"));
                }
            }
            if self.io.flush().await.is_err() {
                break Ending::Gone;
            }
        };
        if let Ending::Close(close, detail) = ending {
            self.close(close, &detail).await;
        }
    }

    /// Writes a settled message's answer; a failed batch ends the session.
    fn answer(&mut self, answer: Answer) -> Result<(), Ending> {
        match answer {
            Answer::Ack { pkid, dropped } => self.io.push(self.version, Outbound::PubAck { pkid, dropped }),
            Answer::Nothing => {}
            Answer::Failed => {
                return Err(Ending::Close(Close::Busy, "a batch could not be queued in time".into()));
            }
        }
        Ok(())
    }

    /// Handles every complete packet in the read buffer.
    fn read_packets(&mut self) -> Flow {
        loop {
            let packet =
                match protocol::read(self.version, &mut self.io.rbuf, self.shared.options.max_packet_bytes) {
                    Ok(Some(packet)) => packet,
                    Ok(None) => return Flow::Continue,
                    Err(e @ DecodeError::TooLarge(_)) => {
                        return Flow::Close(Close::PacketTooLarge, e.to_string());
                    }
                    Err(e @ DecodeError::Malformed(_)) => {
                        return Flow::Close(Close::MalformedPacket, e.to_string());
                    }
                };
            let flow = match packet {
                Inbound::Publish(publish) => self.publish(publish),
                Inbound::Subscribe { pkid, filters } => {
                    SubscribeRefused { client_id: &self.client_id, tenant: self.tenant() }
                        .emit(&self.shared.metrics);
                    self.io.push(self.version, Outbound::SubAckRefused { pkid, filters });
                    Flow::Continue
                }
                Inbound::Unsubscribe { pkid, filters } => {
                    self.io.push(self.version, Outbound::UnsubAck { pkid, filters });
                    Flow::Continue
                }
                Inbound::PingReq => {
                    self.io.push(self.version, Outbound::PingResp);
                    Flow::Continue
                }
                Inbound::Disconnect => Flow::Left,
                Inbound::Unexpected(what) => {
                    Flow::Close(Close::ProtocolError, format!("the client sent {what}"))
                }
            };
            if !matches!(flow, Flow::Continue) {
                return flow;
            }
        }
    }

    fn tenant(&self) -> &str {
        match &*self.sender {
            Sender::Token(p) => p.tenant_slug.as_str(),
            Sender::Tenant(t) => t.slug.as_str(),
        }
    }

    fn publish(&mut self, publish: Publish) -> Flow {
        let metrics = &self.shared.metrics;
        metrics.message_received();
        let Sender::Token(who) = &*self.sender else { return Flow::Continue };
        let topic = String::from_utf8_lossy(&publish.topic);
        let drop = |reason: DropReason, error: &dyn std::fmt::Display| {
            let tenant = who.tenant_slug.as_str();
            MessageDropped { reason, client_id: &self.client_id, tenant, topic: &topic, error }.emit(metrics);
        };
        if publish.qos == 2 {
            drop(DropReason::Qos2, &"QoS 2 is not supported; publish at QoS 0 or 1");
            return Flow::Close(Close::QosNotSupported, "a publish at QoS 2".into());
        }
        let result = match MetricsTopic::tenant_level(&topic) {
            None => {
                Err((DropReason::ForeignTopic, "only metrics/{tenant}/... topics are ingested".to_owned()))
            }
            Some(tenant) if tenant != who.tenant_slug.as_str() => {
                drop(DropReason::CrossTenant, &"a publish outside the client's own tenant");
                return Flow::Close(Close::NotAuthorized, format!("published to {topic}"));
            }
            Some(_) => MetricsTopic::parse(&topic)
                .map_err(|e| (DropReason::BadTopic, e.to_string()))
                .and_then(|topic| {
                    self.shared
                        .ingest
                        .parse_message(&who.retention, &topic, &publish.payload)
                        .map_err(|e| (DropReason::of(&e), e.to_string()))
                })
                .and_then(|samples| {
                    if samples.len() as u64 > who.samples_per_minute {
                        let why = format!(
                            "{} samples exceed the whole quota of {} per minute",
                            samples.len(),
                            who.samples_per_minute
                        );
                        Err((DropReason::OverQuota, why))
                    } else {
                        Ok(samples)
                    }
                }),
        };
        let (pkid, qos1) = (publish.pkid, publish.qos == 1);
        let pending: Pending = match result {
            Ok(samples) => {
                let done = self.shared.coalescer.submit(&self.sender, samples);
                Box::pin(async move {
                    match (done.await, qos1) {
                        (Outcome::Queued, true) => Answer::Ack { pkid, dropped: None },
                        (Outcome::Failed, true) => Answer::Failed,
                        // QoS 0 promises nothing: a lost batch is counted, the client goes on.
                        (_, false) => Answer::Nothing,
                    }
                })
            }
            Err((reason, error)) => {
                drop(reason, &error);
                if !qos1 {
                    return Flow::Continue;
                }
                // A bad message is acknowledged (MQTT 5 says why): resending it cannot help,
                // and an unanswered one would stall the client's in-flight window.
                Box::pin(std::future::ready(Answer::Ack { pkid, dropped: Some(reason) }))
            }
        };
        self.answers.push_back(pending);
        Flow::Continue
    }

    /// Ends the session from the server side: answers what is in flight (until the grace
    /// runs out), tells an MQTT 5 client why, and closes the socket.
    async fn close(mut self, close: Close, detail: &str) {
        let shared = self.shared;
        ConnectionClosed { close, client_id: &self.client_id, tenant: self.tenant(), detail: &detail }
            .emit(&shared.metrics);
        let finish = async {
            // A failed batch or a keep-alive timeout: the client is gone or must resend anyway.
            if !matches!(close, Close::Busy | Close::KeepAliveTimeout) && !self.answers.is_empty() {
                while let Some(answer) = self.answers.next().await {
                    if self.answer(answer).is_err() {
                        break;
                    }
                    if self.io.flush().await.is_err() {
                        return;
                    }
                }
                // rumqttc (the edge agent's client) drops packets read in the same burst as the
                // end of the stream: give it time to take the last PUBACKs before the close.
                tokio::time::sleep(CLOSE_PAUSE).await;
            }
            self.io.push(self.version, Outbound::Disconnect(close));
            if self.io.flush().await.is_ok() {
                let _ = self.io.stream.shutdown().await;
            }
        };
        let _ = tokio::time::timeout(shared.options.shutdown_grace, finish).await;
    }
}
