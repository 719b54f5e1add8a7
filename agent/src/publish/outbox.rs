//! Decides where each batch goes and when it may leave the spool.
//!
//! While connected and the spool is empty, a new batch is published directly and kept in
//! memory until its PUBACK. Otherwise it is appended to the spool. On reconnect the spool is
//! replayed oldest-first, at most `replay_rate` batches per second and `max_inflight` at a
//! time; a spooled batch is deleted only when its PUBACK arrives. When the connection drops,
//! directly published batches still waiting for their PUBACK are written to the spool, so no
//! batch is lost; one may be delivered twice, with the same dedupe ids.

use std::collections::VecDeque;
use std::time::Duration;

use rumqttc::{AsyncClient, QoS};
use tokio::time::Instant;

use crate::spool::{Spool, SpoolStats};

/// Where an in-flight batch lives until its PUBACK.
#[derive(Debug)]
enum Origin {
    /// Published directly; only in memory.
    Fresh { collected_ms: i64, payload: Vec<u8> },
    /// Replayed from the spool; deleted from it on PUBACK.
    Spooled(u64),
}

#[derive(Debug)]
struct Inflight {
    origin: Origin,
    /// Set when rumqttc reports the publish as sent; PUBACKs are matched on it.
    pkid: Option<u16>,
}

/// The batches between collection and PUBACK.
#[derive(Debug)]
pub struct Outbox {
    spool: Spool,
    topic: String,
    inflight: VecDeque<Inflight>,
    /// Last spooled batch published in this session; replay continues after it.
    replay_cursor: Option<u64>,
    connected: bool,
    max_inflight: usize,
    replay_gap: Duration,
    next_replay: Instant,
}

impl Outbox {
    /// An outbox publishing to `topic`, spooling into `spool`.
    pub fn new(spool: Spool, topic: String, max_inflight: u16, replay_rate: u32) -> Self {
        Self {
            spool,
            topic,
            inflight: VecDeque::new(),
            replay_cursor: None,
            connected: false,
            max_inflight: usize::from(max_inflight.max(1)),
            replay_gap: Duration::from_secs(1) / replay_rate.max(1),
            next_replay: Instant::now(),
        }
    }

    /// Spool depth, size, age and drops, for the `agent.spool.*` metrics.
    pub fn stats(&self) -> SpoolStats {
        self.spool.stats()
    }

    /// Batches published and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    fn spool(&mut self, collected_ms: i64, payload: &[u8]) {
        if let Err(error) = self.spool.push(collected_ms, payload) {
            tracing::error!(error = %error, dir = %self.spool.dir().display(), "Could not spool a batch; it is lost.");
        }
    }

    /// Hands over a new batch: published now if possible, spooled otherwise.
    pub async fn submit(&mut self, client: Option<&AsyncClient>, collected_ms: i64, payload: Vec<u8>) {
        if let Some(client) = client
            && self.connected
            && self.spool.is_empty()
            && self.inflight.len() < self.max_inflight
            && client.publish(self.topic.clone(), QoS::AtLeastOnce, false, payload.clone()).await.is_ok()
        {
            self.inflight.push_back(Inflight { origin: Origin::Fresh { collected_ms, payload }, pkid: None });
            return;
        }
        self.spool(collected_ms, &payload);
    }

    /// The session is up: replay starts from the oldest spooled batch.
    pub fn on_connected(&mut self) {
        self.connected = true;
        self.replay_cursor = None;
    }

    /// rumqttc wrote a publish; publishes are sent in the order they were queued.
    pub fn on_sent(&mut self, pkid: u16) {
        if let Some(f) = self.inflight.iter_mut().find(|f| f.pkid.is_none()) {
            f.pkid = Some(pkid);
        }
    }

    /// PUBACK: the batch is delivered and leaves the outbox (and the spool).
    pub fn on_acked(&mut self, pkid: u16) {
        let Some(pos) = self.inflight.iter().position(|f| f.pkid == Some(pkid)) else { return };
        if let Some(Inflight { origin: Origin::Spooled(seq), .. }) = self.inflight.remove(pos)
            && let Err(error) = self.spool.remove(seq)
        {
            tracing::warn!(error = %error, seq, "Could not delete an acknowledged batch; it will be sent again.");
        }
    }

    /// The session is gone: unacknowledged direct publishes go to the spool, spooled ones
    /// stay there, and replay will restart from the oldest.
    pub fn on_disconnected(&mut self) {
        self.connected = false;
        self.replay_cursor = None;
        for f in std::mem::take(&mut self.inflight) {
            if let Origin::Fresh { collected_ms, payload } = f.origin {
                self.spool(collected_ms, &payload);
            }
        }
    }

    /// When the next spooled batch may be replayed, if one is waiting and allowed.
    pub fn replay_due(&self) -> Option<Instant> {
        (self.connected
            && self.inflight.len() < self.max_inflight
            && self.spool.next_after(self.replay_cursor).is_some())
        .then_some(self.next_replay)
    }

    /// Publishes the next spooled batch and paces the following one.
    pub async fn replay_one(&mut self, client: &AsyncClient) {
        let Some(seq) = self.spool.next_after(self.replay_cursor) else { return };
        self.replay_cursor = Some(seq);
        self.next_replay = Instant::now().max(self.next_replay) + self.replay_gap;
        match self.spool.read(seq) {
            Ok(Some(payload)) => {
                if client.publish(self.topic.clone(), QoS::AtLeastOnce, false, payload).await.is_ok() {
                    self.inflight.push_back(Inflight { origin: Origin::Spooled(seq), pkid: None });
                }
            }
            Ok(None) => {}
            Err(error) => {
                tracing::error!(error = %error, seq, "Could not read a spooled batch; skipping it.");
                let _ = self.spool.remove(seq);
            }
        }
    }
}
