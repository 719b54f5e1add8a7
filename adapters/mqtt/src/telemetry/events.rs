//! The typed events: each bumps its counter and writes its (rate-limited) log line.

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;

use super::{CLOSES, MqttMetrics};
use crate::drop_reason::DropReason;
use crate::protocol::{Close, Refusal};

/// A message that was not stored.
pub(crate) struct MessageDropped<'a> {
    pub reason: DropReason,
    pub client_id: &'a str,
    pub tenant: &'a str,
    pub topic: &'a str,
    pub error: &'a dyn fmt::Display,
}

impl MessageDropped<'_> {
    pub(crate) fn emit(&self, m: &MqttMetrics) {
        let i = self.reason.index();
        m.dropped[i].fetch_add(1, Relaxed);
        if let Some(suppressed) = m.drop_gates[i].pass(m.now_ms()) {
            tracing::warn!(
                source = m.source,
                reason = self.reason.as_str(),
                client_id = self.client_id,
                tenant = self.tenant,
                topic = self.topic,
                error = %self.error,
                suppressed,
                "MQTT message dropped."
            );
        }
    }
}

/// A CONNECT answered with a refusal.
pub(crate) struct ConnectRefused<'a> {
    pub refusal: Refusal,
    pub client_id: &'a str,
    pub user: &'a str,
    pub peer: &'a dyn fmt::Display,
}

impl ConnectRefused<'_> {
    pub(crate) fn emit(&self, m: &MqttMetrics) {
        let code = usize::from(self.refusal.code());
        m.connects_refused[code].fetch_add(1, Relaxed);
        if let Some(suppressed) = m.refuse_gates[code].pass(m.now_ms()) {
            tracing::warn!(
                code,
                refusal = ?self.refusal,
                client_id = self.client_id,
                user = self.user,
                peer = %self.peer,
                suppressed,
                "MQTT connection refused."
            );
        }
    }
}

/// The server closed a connection.
pub(crate) struct ConnectionClosed<'a> {
    pub close: Close,
    pub client_id: &'a str,
    pub tenant: &'a str,
    pub detail: &'a dyn fmt::Display,
}

impl ConnectionClosed<'_> {
    pub(crate) fn emit(&self, m: &MqttMetrics) {
        let Some(i) = CLOSES.iter().position(|(c, _)| *c == self.close) else { return };
        m.closed[i].fetch_add(1, Relaxed);
        // A shutdown closes every connection at once: one line for the process says enough.
        if self.close == Close::ShuttingDown {
            return;
        }
        if let Some(suppressed) = m.close_gates[i].pass(m.now_ms()) {
            tracing::warn!(
                reason = CLOSES[i].1,
                client_id = self.client_id,
                tenant = self.tenant,
                detail = %self.detail,
                suppressed,
                "MQTT connection closed by the server."
            );
        }
    }
}

/// A SUBSCRIBE refused: the endpoint is ingest-only.
pub(crate) struct SubscribeRefused<'a> {
    pub client_id: &'a str,
    pub tenant: &'a str,
}

impl SubscribeRefused<'_> {
    pub(crate) fn emit(&self, m: &MqttMetrics) {
        m.subscribes_refused.fetch_add(1, Relaxed);
        if let Some(suppressed) = m.other_gate.pass(m.now_ms()) {
            tracing::info!(
                client_id = self.client_id,
                tenant = self.tenant,
                suppressed,
                "MQTT SUBSCRIBE refused: this endpoint only ingests; subscribe at a broker instead."
            );
        }
    }
}

/// A batch that could not be queued before giving up: its messages stay unacknowledged.
pub(crate) struct BatchFailed<'a> {
    pub tenant: &'a str,
    pub messages: usize,
    pub error: &'a dyn fmt::Display,
}

impl BatchFailed<'_> {
    pub(crate) fn emit(&self, m: &MqttMetrics) {
        m.batches_failed.fetch_add(1, Relaxed);
        tracing::warn!(
            source = m.source,
            tenant = self.tenant,
            messages = self.messages,
            error = %self.error,
            "MQTT batch not queued in time; its messages are left unacknowledged for the clients to resend."
        );
    }
}
