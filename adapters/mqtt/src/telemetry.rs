//! What the MQTT adapters count and log. Each repeated occurrence (a dropped message, a refused
//! CONNECT, a closed connection) is a typed event whose `emit()` bumps its counter and writes
//! its log line together, so the two cannot drift apart. Log lines are rate-limited per kind
//! (one per [`LOG_EVERY`], saying how many were not logged), because a misbehaving device can
//! send thousands of bad messages a second; the counters count every one.
//!
//! Labels are bounded: a reason or a return code, never a tenant or a client id.
//!
//! # Layout
//! - this file: [`MqttMetrics`] and the rendering for `/metrics`.
//! - `events`: the typed events, each counting and logging one occurrence.

mod events;

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::drop_reason::DropReason;
use crate::protocol::Close;

pub(crate) use self::events::{
    BatchFailed, ConnectRefused, ConnectionClosed, MessageDropped, SubscribeRefused,
};

/// At most one log line per kind of event in this period.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Why the server closed a connection, as counted.
const CLOSES: [(Close, &str); 9] = [
    (Close::NotAuthorized, "not_authorized"),
    (Close::QosNotSupported, "qos_not_supported"),
    (Close::ProtocolError, "protocol_error"),
    (Close::MalformedPacket, "malformed_packet"),
    (Close::PacketTooLarge, "packet_too_large"),
    (Close::KeepAliveTimeout, "keep_alive_timeout"),
    (Close::SessionTakenOver, "session_taken_over"),
    (Close::ShuttingDown, "shutting_down"),
    (Close::Busy, "busy"),
];

/// One rate-limited log stream: when it last wrote, and what it held back since.
struct Gate {
    last_ms: AtomicI64,
    suppressed: AtomicU64,
}

impl Gate {
    const fn new() -> Self {
        Self { last_ms: AtomicI64::new(i64::MIN / 2), suppressed: AtomicU64::new(0) }
    }

    /// `Some(held back since the last line)` when a line may be written now.
    fn pass(&self, now_ms: i64) -> Option<u64> {
        let last = self.last_ms.load(Relaxed);
        if now_ms - last >= LOG_EVERY.as_millis() as i64
            && self.last_ms.compare_exchange(last, now_ms, Relaxed, Relaxed).is_ok()
        {
            return Some(self.suppressed.swap(0, Relaxed));
        }
        self.suppressed.fetch_add(1, Relaxed);
        None
    }
}

/// Counters of one MQTT adapter (the endpoint or a bridge), readable by tests and rendered in
/// the Prometheus text format for `/metrics`.
pub struct MqttMetrics {
    /// `source` label: `endpoint` or `bridge`.
    source: &'static str,
    started: Instant,
    connections_open: AtomicI64,
    connections_accepted: AtomicU64,
    /// By CONNACK return code 1 to 5 (index 0 unused).
    connects_refused: [AtomicU64; 6],
    messages_received: AtomicU64,
    messages_queued: AtomicU64,
    samples_queued: AtomicU64,
    batches_queued: AtomicU64,
    dropped: [AtomicU64; DropReason::ALL.len()],
    subscribes_refused: AtomicU64,
    closed: [AtomicU64; CLOSES.len()],
    /// Batches whose queueing failed for good (quota or queue unavailable for too long):
    /// their messages were not acknowledged.
    batches_failed: AtomicU64,
    drop_gates: [Gate; DropReason::ALL.len()],
    refuse_gates: [Gate; 6],
    close_gates: [Gate; CLOSES.len()],
    other_gate: Gate,
}

/// Shared [`MqttMetrics`].
pub type MqttMetricsRef = Arc<MqttMetrics>;

impl MqttMetrics {
    pub(crate) fn new(source: &'static str) -> Self {
        Self {
            source,
            started: Instant::now(),
            connections_open: AtomicI64::new(0),
            connections_accepted: AtomicU64::new(0),
            connects_refused: Default::default(),
            messages_received: AtomicU64::new(0),
            messages_queued: AtomicU64::new(0),
            samples_queued: AtomicU64::new(0),
            batches_queued: AtomicU64::new(0),
            dropped: Default::default(),
            subscribes_refused: AtomicU64::new(0),
            closed: Default::default(),
            batches_failed: AtomicU64::new(0),
            drop_gates: [const { Gate::new() }; DropReason::ALL.len()],
            refuse_gates: [const { Gate::new() }; 6],
            close_gates: [const { Gate::new() }; CLOSES.len()],
            other_gate: Gate::new(),
        }
    }

    /// Messages dropped for `reason` so far.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()].load(Relaxed)
    }

    /// Connections open now.
    pub fn connections_open(&self) -> i64 {
        self.connections_open.load(Relaxed)
    }

    /// CONNECTs refused with this 3.1.1 return code (1 to 5) so far.
    pub fn connects_refused(&self, code: u8) -> u64 {
        self.connects_refused.get(usize::from(code)).map_or(0, |c| c.load(Relaxed))
    }

    /// PUBLISH packets received so far.
    pub fn messages_received(&self) -> u64 {
        self.messages_received.load(Relaxed)
    }

    /// Messages whose samples are in the queue.
    pub fn messages_queued(&self) -> u64 {
        self.messages_queued.load(Relaxed)
    }

    /// Queue entries written: far fewer than messages when coalescing works.
    pub fn batches_queued(&self) -> u64 {
        self.batches_queued.load(Relaxed)
    }

    /// SUBSCRIBE packets refused so far.
    pub fn subscribes_refused(&self) -> u64 {
        self.subscribes_refused.load(Relaxed)
    }

    pub(crate) fn connection_opened(&self) {
        self.connections_accepted.fetch_add(1, Relaxed);
        self.connections_open.fetch_add(1, Relaxed);
    }

    pub(crate) fn connection_ended(&self) {
        self.connections_open.fetch_sub(1, Relaxed);
    }

    pub(crate) fn message_received(&self) {
        self.messages_received.fetch_add(1, Relaxed);
    }

    pub(crate) fn batch_queued(&self, messages: usize, samples: usize) {
        self.batches_queued.fetch_add(1, Relaxed);
        self.messages_queued.fetch_add(messages as u64, Relaxed);
        self.samples_queued.fetch_add(samples as u64, Relaxed);
    }

    fn now_ms(&self) -> i64 {
        self.started.elapsed().as_millis() as i64
    }

    /// Renders every counter in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let src = self.source;
        let mut family = |name: &str, kind: &str, help: &str, rows: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP microdash_mqtt_{name} {help}\n# TYPE microdash_mqtt_{name} {kind}");
            for (labels, value) in rows {
                let _ = writeln!(out, "microdash_mqtt_{name}{{source=\"{src}\"{labels}}} {value}");
            }
        };
        let one = |v: u64| vec![(String::new(), v)];
        let open = self.connections_open().max(0) as u64;
        family("connections_open", "gauge", "Connections open now.", &one(open));
        let accepted = self.connections_accepted.load(Relaxed);
        family("connections_total", "counter", "Connections accepted.", &one(accepted));
        let refused: Vec<_> =
            (1..6).map(|c| (format!(",code=\"{c}\""), self.connects_refused[c].load(Relaxed))).collect();
        family("connects_refused_total", "counter", "CONNECTs refused, by CONNACK return code.", &refused);
        let received = self.messages_received();
        family("messages_received_total", "counter", "PUBLISH packets received.", &one(received));
        let queued = self.messages_queued();
        family("messages_queued_total", "counter", "Messages whose samples were queued.", &one(queued));
        let samples = self.samples_queued.load(Relaxed);
        family("samples_queued_total", "counter", "Samples queued.", &one(samples));
        let batches = self.batches_queued();
        family(
            "batches_queued_total",
            "counter",
            "Queue entries written (coalesced messages).",
            &one(batches),
        );
        let dropped: Vec<_> = DropReason::ALL
            .iter()
            .map(|r| (format!(",reason=\"{}\"", r.as_str()), self.dropped(*r)))
            .collect();
        family(
            "messages_dropped_total",
            "counter",
            "Messages dropped without being stored, by reason.",
            &dropped,
        );
        let subs = self.subscribes_refused();
        family("subscribes_refused_total", "counter", "SUBSCRIBE packets refused.", &one(subs));
        let closed: Vec<_> = CLOSES
            .iter()
            .enumerate()
            .map(|(i, (_, label))| (format!(",reason=\"{label}\""), self.closed[i].load(Relaxed)))
            .collect();
        family("connections_closed_total", "counter", "Connections the server closed, by reason.", &closed);
        let failed = self.batches_failed.load(Relaxed);
        family(
            "batches_failed_total",
            "counter",
            "Batches not queued in time; left unacknowledged.",
            &one(failed),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_drops_is_counted_whole_but_logged_once_per_period() {
        let gate = Gate::new();
        assert_eq!(gate.pass(0), Some(0));
        assert_eq!(gate.pass(1), None);
        assert_eq!(gate.pass(9_999), None);
        assert_eq!(gate.pass(10_000), Some(2), "the next line says how many were held back");
    }

    #[test]
    fn every_reason_is_rendered_with_its_label() {
        let m = MqttMetrics::new("endpoint");
        let e = "x";
        MessageDropped {
            reason: DropReason::CrossTenant,
            client_id: "c",
            tenant: "t",
            topic: "x",
            error: &e,
        }
        .emit(&m);
        let text = m.render();
        assert!(
            text.contains(
                r#"microdash_mqtt_messages_dropped_total{source="endpoint",reason="cross_tenant"} 1"#
            )
        );
        assert!(
            text.contains(r#"microdash_mqtt_messages_dropped_total{source="endpoint",reason="malformed"} 0"#)
        );
        assert_eq!(m.dropped(DropReason::CrossTenant), 1);
    }
}
