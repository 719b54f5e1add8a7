//! The worker half: `XREADGROUP` new entries, take over entries other workers left pending
//! (`XPENDING IDLE` + `XCLAIM`, which, unlike `XAUTOCLAIM`, also reports how often each was
//! delivered), dead-letter poison entries, `XACK` + `XDEL` what was stored.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use async_trait::async_trait;
use microdash_usecases::ports::{Delivery, IngestConsumer, QueueError};
use redis::AsyncCommands;
use redis::streams::{
    StreamClaimReply, StreamId, StreamPendingCountReply, StreamReadOptions, StreamReadReply,
};
use tokio::time::Instant;

use super::{Decoded, PAYLOAD_FIELD, RedisIngestQueue, unavailable};
use microdash_codec as codec;

/// Entries fetched per `XREADGROUP`; those beyond a call's sample budget wait in the
/// consumer for the next call (still pending in Redis, so nothing is lost if it dies).
const READ_COUNT: usize = 32;
/// Idle entries taken over per check; a full take means more may wait, so the next call
/// checks again at once.
const CLAIM_COUNT: usize = 32;
/// Longest `XREADGROUP BLOCK`, so that idle entries are still looked for regularly and a
/// stalled connection is noticed.
pub(crate) const MAX_BLOCK: Duration = Duration::from_secs(1);

/// What the consumer holds between calls.
#[derive(Default)]
pub(crate) struct ConsumerState {
    /// Read from Redis but not yet handed out (pending under this consumer's name).
    buffered: VecDeque<Delivery>,
    group_ready: bool,
    last_claim: Option<Instant>,
}

impl RedisIngestQueue {
    /// How often idle entries are looked for, and how long a read blocks.
    fn claim_check(&self) -> Duration {
        (self.options.claim_idle / 2).clamp(Duration::from_millis(1), MAX_BLOCK)
    }

    async fn ensure_group(&self, state: &mut ConsumerState) -> Result<(), QueueError> {
        if state.group_ready {
            return Ok(());
        }
        // From "0", so entries queued before any worker started are read too.
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg(&self.options.consumer_group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut self.con())
            .await;
        match created {
            Ok(()) => {}
            Err(e) if e.code() == Some("BUSYGROUP") => {}
            Err(e) => return Err(unavailable(e)),
        }
        state.group_ready = true;
        Ok(())
    }

    /// Claims entries idle longer than `claim_idle`, whoever holds them (this consumer
    /// included: a dropped `next` leaves its entries pending). Returns how many it claimed.
    async fn reclaim(&self) -> Result<(Decoded, usize), QueueError> {
        let idle_ms = self.options.claim_idle.as_millis() as u64;
        let group = &self.options.consumer_group;
        let pending: StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(&self.stream)
            .arg(group)
            .arg("IDLE")
            .arg(idle_ms)
            .arg("-")
            .arg("+")
            .arg(CLAIM_COUNT)
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        if pending.ids.is_empty() {
            return Ok((Decoded { ok: Vec::new(), poison: Vec::new() }, 0));
        }
        let times: HashMap<&str, usize> =
            pending.ids.iter().map(|p| (p.id.as_str(), p.times_delivered)).collect();
        // XCLAIM re-checks the idle time, so of two workers claiming at once only one wins.
        // Ids in stream order (as XPENDING lists them), which XCLAIM keeps.
        let claimed: StreamClaimReply = redis::cmd("XCLAIM")
            .arg(&self.stream)
            .arg(group)
            .arg(&self.options.consumer_name)
            .arg(idle_ms)
            .arg(pending.ids.iter().map(|p| p.id.as_str()).collect::<Vec<_>>())
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        let n = claimed.ids.len();
        let mut decoded = Decoded { ok: Vec::new(), poison: Vec::new() };
        let mut fresh = Vec::new();
        for entry in claimed.ids {
            let delivered = times.get(entry.id.as_str()).copied().unwrap_or(0);
            if delivered >= self.options.max_deliveries as usize {
                let reason = format!("not acknowledged after {delivered} deliveries");
                decoded.poison.push((entry.id.clone(), payload(entry), reason));
            } else {
                fresh.push(entry);
            }
        }
        let rest = decode(fresh);
        decoded.ok.extend(rest.ok);
        decoded.poison.extend(rest.poison);
        Ok((decoded, n))
    }

    /// Reads new entries, blocking up to `block`.
    async fn read(&self, block: Duration) -> Result<Decoded, QueueError> {
        let reader = self
            .reader
            .get_or_try_init(|| self.options.manager(MAX_BLOCK))
            .await
            .map_err(|e| unavailable(e.0))?;
        let opts = StreamReadOptions::default()
            .group(&self.options.consumer_group, &self.options.consumer_name)
            .count(READ_COUNT)
            .block(block.as_millis().max(1) as usize);
        let reply: Option<StreamReadReply> =
            reader.clone().xread_options(&[&self.stream], &[">"], &opts).await.map_err(unavailable)?;
        let entries = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids).collect();
        Ok(decode(entries))
    }

    /// Keeps the good deliveries and moves the poison ones to the dead-letter stream.
    async fn accept(&self, state: &mut ConsumerState, decoded: Decoded) -> Result<(), QueueError> {
        state.buffered.extend(decoded.ok);
        for (id, payload, reason) in decoded.poison {
            self.dead_letter(&id, &payload, &reason).await?;
        }
        Ok(())
    }

    /// Moves one entry to the dead-letter stream and acknowledges it, atomically.
    pub(crate) async fn dead_letter(&self, id: &str, payload: &[u8], reason: &str) -> Result<(), QueueError> {
        tracing::error!(entry = id, reason, "Ingest entry moved to the dead-letter stream.");
        redis::pipe()
            .atomic()
            .cmd("XADD")
            .arg(&self.dead)
            .arg("*")
            .arg("id")
            .arg(id)
            .arg("reason")
            .arg(reason)
            .arg(PAYLOAD_FIELD)
            .arg(payload)
            .ignore()
            .xack(&self.stream, &self.options.consumer_group, &[id])
            .ignore()
            .xdel(&self.stream, &[id])
            .ignore()
            .query_async::<()>(&mut self.con())
            .await
            .map_err(unavailable)
    }
}

fn payload(mut entry: StreamId) -> Vec<u8> {
    match entry.map.remove(PAYLOAD_FIELD) {
        Some(redis::Value::BulkString(bytes)) => bytes,
        _ => Vec::new(),
    }
}

fn decode(entries: Vec<StreamId>) -> Decoded {
    let mut out = Decoded { ok: Vec::with_capacity(entries.len()), poison: Vec::new() };
    for entry in entries {
        let id = entry.id.clone();
        let bytes = payload(entry);
        match codec::decode_batch(&bytes) {
            Ok(batch) => out.ok.push(Delivery { id, batch }),
            Err(e) => out.poison.push((id, bytes, format!("undecodable: {e}"))),
        }
    }
    out
}

/// Takes at least one delivery, then more while they fit in `max_samples`.
fn take(buffered: &mut VecDeque<Delivery>, max_samples: usize) -> Vec<Delivery> {
    let mut out = Vec::new();
    let mut samples = 0;
    while let Some(front) = buffered.front() {
        if !out.is_empty() && samples + front.batch.samples.len() > max_samples {
            break;
        }
        samples += front.batch.samples.len();
        out.extend(buffered.pop_front());
    }
    out
}

#[async_trait]
impl IngestConsumer for RedisIngestQueue {
    async fn next(&self, max_samples: usize) -> Result<Option<Vec<Delivery>>, QueueError> {
        let mut state = self.consumer.lock().await;
        loop {
            if !state.buffered.is_empty() {
                return Ok(Some(take(&mut state.buffered, max_samples)));
            }
            // Registered before looking, so a close in between still wakes the read below.
            let closing = self.closing.notified();
            tokio::pin!(closing);
            closing.as_mut().enable();
            if self.is_closed() {
                return Ok(None);
            }
            self.ensure_group(&mut state).await?;
            if state.last_claim.is_none_or(|t| t.elapsed() >= self.claim_check()) {
                let (decoded, claimed) = self.reclaim().await?;
                if claimed < CLAIM_COUNT {
                    state.last_claim = Some(Instant::now());
                }
                self.accept(&mut state, decoded).await?;
                if !state.buffered.is_empty() {
                    continue;
                }
            }
            // Dropping the read (on close, or with the caller's future) is safe: whatever
            // Redis handed out stays pending and is claimed after `claim_idle`.
            let decoded = tokio::select! {
                read = self.read(self.claim_check()) => match read {
                    Err(e @ QueueError::Unavailable(_)) => {
                        // The group may be gone (stream deleted): create it again next time.
                        state.group_ready = false;
                        return Err(e);
                    }
                    other => other?,
                },
                () = &mut closing => continue,
            };
            self.accept(&mut state, decoded).await?;
        }
    }

    async fn ack(&self, ids: &[String]) -> Result<(), QueueError> {
        if ids.is_empty() {
            return Ok(());
        }
        redis::pipe()
            .atomic()
            .xack(&self.stream, &self.options.consumer_group, ids)
            .ignore()
            .xdel(&self.stream, ids)
            .ignore()
            .query_async::<()>(&mut self.con())
            .await
            .map_err(unavailable)
    }

    async fn reject(&self, id: &str, reason: &str) -> Result<(), QueueError> {
        // The consumer keeps decoded batches only; the raw entry is still in the stream.
        let entries: redis::streams::StreamRangeReply =
            self.con().xrange(&self.stream, id, id).await.map_err(unavailable)?;
        let Some(entry) = entries.ids.into_iter().next() else {
            return Ok(()); // already acknowledged or dead-lettered by another worker
        };
        self.dead_letter(id, &payload(entry), reason).await
    }

    async fn extend(&self, ids: &[String]) -> Result<(), QueueError> {
        if ids.is_empty() {
            return Ok(());
        }
        // XCLAIM to ourselves with JUSTID resets the idle time without counting a delivery.
        redis::cmd("XCLAIM")
            .arg(&self.stream)
            .arg(&self.options.consumer_group)
            .arg(&self.options.consumer_name)
            .arg(0)
            .arg(ids)
            .arg("JUSTID")
            .query_async::<redis::Value>(&mut self.con())
            .await
            .map(drop)
            .map_err(unavailable)
    }
}
