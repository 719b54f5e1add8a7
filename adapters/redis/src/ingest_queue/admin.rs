//! What the operator's CLI needs: queue statistics and the dead-letter stream.

use std::time::Duration;

use microdash_usecases::ports::{IngestBatch, QueueError};
use redis::AsyncCommands;
use redis::streams::{StreamPendingReply, StreamRangeReply};

use super::{PAYLOAD_FIELD, RedisIngestQueue, unavailable};
use microdash_codec as codec;

/// A snapshot of the ingest queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStats {
    /// Entries in the stream: queued plus handed out and not yet acknowledged.
    pub depth: u64,
    /// Entries handed out to a worker and not yet acknowledged.
    pub pending: u64,
    /// How long ago the oldest pending entry was queued; `None` when nothing is pending.
    pub oldest_pending_age: Option<Duration>,
    /// Entries in the dead-letter stream.
    pub dead_letters: u64,
}

/// An entry that could not be stored, as kept in the dead-letter stream.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// Its id in the dead-letter stream; give it to `replay_dead_letters` or `drop_dead_letters`.
    pub id: String,
    /// Its id in the ingest stream when it failed.
    pub original_id: String,
    /// Why it was set aside.
    pub reason: String,
    /// The batch, or `None` when the payload cannot be decoded.
    pub batch: Option<IngestBatch>,
    /// Size of the stored payload.
    pub payload_bytes: usize,
}

impl RedisIngestQueue {
    /// Depth, pending entries and their age, and dead letters.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when Redis cannot be reached.
    pub async fn stats(&self) -> Result<QueueStats, QueueError> {
        let mut con = self.con();
        let depth: u64 = con.xlen(&self.stream).await.map_err(unavailable)?;
        let dead_letters: u64 = con.xlen(&self.dead).await.map_err(unavailable)?;
        let summary: redis::RedisResult<StreamPendingReply> =
            con.xpending(&self.stream, &self.options.consumer_group).await;
        let (pending, oldest_pending_age) = match summary {
            Ok(StreamPendingReply::Data(d)) => {
                let (now_s, now_us): (u64, u64) =
                    redis::cmd("TIME").query_async(&mut con).await.map_err(unavailable)?;
                let now_ms = now_s * 1000 + now_us / 1000;
                let age =
                    entry_millis(&d.start_id).map(|at| Duration::from_millis(now_ms.saturating_sub(at)));
                (d.count as u64, age)
            }
            Ok(_) => (0, None),
            // No group yet (no worker ever read): nothing can be pending.
            Err(e) if e.code() == Some("NOGROUP") => (0, None),
            Err(e) => return Err(unavailable(e)),
        };
        Ok(QueueStats { depth, pending, oldest_pending_age, dead_letters })
    }

    /// The oldest `limit` dead letters.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when Redis cannot be reached.
    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let range: StreamRangeReply =
            self.con().xrange_count(&self.dead, "-", "+", limit).await.map_err(unavailable)?;
        Ok(range
            .ids
            .into_iter()
            .map(|e| {
                let text = |f: &str| e.get::<String>(f).unwrap_or_default();
                let payload = match e.map.get(PAYLOAD_FIELD) {
                    Some(redis::Value::BulkString(b)) => b.as_slice(),
                    _ => &[],
                };
                DeadLetter {
                    original_id: text("id"),
                    reason: text("reason"),
                    batch: codec::decode_batch(payload).ok(),
                    payload_bytes: payload.len(),
                    id: e.id.clone(),
                }
            })
            .collect())
    }

    /// Puts dead letters back at the end of the ingest stream (with a fresh delivery count)
    /// and removes them from the dead-letter stream. Returns how many were replayed; unknown
    /// ids are skipped. Replaying ignores the stream bound: the operator decides.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when Redis cannot be reached.
    pub async fn replay_dead_letters(&self, ids: &[String]) -> Result<usize, QueueError> {
        let mut con = self.con();
        let mut replayed = 0;
        for id in ids {
            let range: StreamRangeReply = con.xrange(&self.dead, id, id).await.map_err(unavailable)?;
            let Some(entry) = range.ids.into_iter().next() else { continue };
            let payload = match entry.map.get(PAYLOAD_FIELD) {
                Some(redis::Value::BulkString(b)) => b.clone(),
                _ => Vec::new(),
            };
            redis::pipe()
                .atomic()
                .xadd(&self.stream, "*", &[(PAYLOAD_FIELD, payload)])
                .ignore()
                .xdel(&self.dead, &[id])
                .ignore()
                .query_async::<()>(&mut con)
                .await
                .map_err(unavailable)?;
            replayed += 1;
        }
        Ok(replayed)
    }

    /// Deletes dead letters for good. Returns how many existed.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when Redis cannot be reached.
    pub async fn drop_dead_letters(&self, ids: &[String]) -> Result<usize, QueueError> {
        if ids.is_empty() {
            return Ok(0);
        }
        self.con().xdel(&self.dead, ids).await.map_err(unavailable)
    }
}

/// The milliseconds part of a stream id (`<ms>-<seq>`): when the entry was added.
fn entry_millis(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}
