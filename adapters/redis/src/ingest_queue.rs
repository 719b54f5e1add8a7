//! The production ingest queue: one Redis Stream entry per accepted request, read by the
//! workers through a consumer group. Entries stay pending until acknowledged, so a worker that
//! crashes (or a `next` that is dropped half-way) loses nothing: after
//! [`RedisOptions::claim_idle`] another worker claims them, and after
//! [`RedisOptions::max_deliveries`] they go to a dead-letter stream for the operator.
//!
//! Not for: ordering across workers (each worker sees its own entries in stream order), or
//! exactly-once delivery (a claimed entry may be stored twice; the stores dedupe).
//!
//! # Layout
//! - this file: the type, the producer half ([`IngestQueue`]) and the health check.
//! - `consumer`: the worker half (`IngestConsumer`): read, claim, dead-letter, ack.
//! - `admin`: statistics ([`QueueStats`]) and dead letters ([`DeadLetter`]) for the CLI.

mod admin;
mod consumer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use microdash_usecases::ports::{Delivery, HealthCheck, HealthError, IngestBatch, IngestQueue, QueueError};
use redis::aio::ConnectionManager;
use tokio::sync::{Mutex, Notify, OnceCell};

pub use admin::{DeadLetter, QueueStats};

use crate::options::{ConnectError, RedisOptions};
use microdash_codec as codec;

/// What a producer is told to wait when the stream is full: workers drain thousands of
/// entries a second, so a second is plenty without idling clients for long.
const FULL_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Appends the entry unless the stream already holds the bound, atomically (`XLEN` is O(1)).
/// Returns {added (0/1), length}. Copying the payload into Lua costs about as much as the
/// `XADD` itself, so it is used only near the bound (see [`NEAR_BOUND`]).
const ENQUEUE_SCRIPT: &str = r"
local n = redis.call('XLEN', KEYS[1])
if n >= tonumber(ARGV[1]) then return {0, n} end
redis.call('XADD', KEYS[1], '*', 'b', ARGV[2])
return {1, n + 1}
";

/// Below this share of the bound (as last seen), enqueue is a plain pipelined `XADD` + `XLEN`;
/// above it, the atomic script. Between two looks the stream can only grow by what other
/// api nodes add meanwhile, far less than the 10% left.
const NEAR_BOUND: f64 = 0.9;

/// The field of a stream entry that holds the encoded batch.
pub(crate) const PAYLOAD_FIELD: &str = "b";

/// The ingest queue on Redis Streams: both halves, plus the operator's inherent methods.
pub struct RedisIngestQueue {
    options: RedisOptions,
    stream: String,
    dead: String,
    /// Every non-blocking command; reconnects by itself.
    commands: ConnectionManager,
    /// `XREADGROUP BLOCK` only, so a blocked read never delays an `XADD` or `XACK`; opened on
    /// the first read, since the api role never reads.
    reader: OnceCell<ConnectionManager>,
    enqueue_script: redis::Script,
    /// The consumer's state; one `next` at a time per instance (a worker runs one loop).
    consumer: Mutex<consumer::ConsumerState>,
    closed: AtomicBool,
    /// Whether the stream was near its bound at the last enqueue; starts true (unknown).
    near_bound: AtomicBool,
    /// Wakes a `next` blocked on Redis when the queue closes.
    closing: Notify,
}

impl RedisIngestQueue {
    /// Connects to Redis; the consumer group is created on the first read.
    ///
    /// # Errors
    /// [`ConnectError`] when the URL is invalid or Redis does not answer.
    pub async fn connect(options: RedisOptions) -> Result<Self, ConnectError> {
        let commands = options.manager(Duration::ZERO).await?;
        Ok(Self {
            stream: options.ingest_key(),
            dead: options.dead_letter_key(),
            options,
            commands,
            reader: OnceCell::new(),
            enqueue_script: redis::Script::new(ENQUEUE_SCRIPT),
            consumer: Mutex::new(consumer::ConsumerState::default()),
            closed: AtomicBool::new(false),
            near_bound: AtomicBool::new(true),
            closing: Notify::new(),
        })
    }

    /// Stops accepting batches (`enqueue` answers "closed") and ends the consumer: `next`
    /// hands out what it already holds, then `None`. Unacknowledged entries stay in Redis for
    /// the next worker.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.closing.notify_waiters();
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// A clone of the command connection (cheap: it is a handle).
    fn con(&self) -> ConnectionManager {
        self.commands.clone()
    }
}

/// Every Redis failure the ports see: the API answers 503, the worker retries.
pub(crate) fn unavailable(e: redis::RedisError) -> QueueError {
    QueueError::unavailable(e)
}

#[async_trait]
impl IngestQueue for RedisIngestQueue {
    async fn enqueue(&self, batch: IngestBatch) -> Result<(), QueueError> {
        if self.is_closed() {
            return Err(QueueError::Closed);
        }
        let payload = codec::encode_batch(&batch);
        let mut con = self.con();
        let (added, len): (u8, u64) = if self.near_bound.load(Ordering::Relaxed) {
            self.enqueue_script
                .key(&self.stream)
                .arg(self.options.stream_max_len)
                .arg(payload)
                .invoke_async(&mut con)
                .await
                .map_err(unavailable)?
        } else {
            let (len,): (u64,) = redis::pipe()
                .cmd("XADD")
                .arg(&self.stream)
                .arg("*")
                .arg(PAYLOAD_FIELD)
                .arg(payload)
                .ignore()
                .cmd("XLEN")
                .arg(&self.stream)
                .query_async(&mut con)
                .await
                .map_err(unavailable)?;
            (1, len)
        };
        let near = len as f64 >= self.options.stream_max_len as f64 * NEAR_BOUND;
        self.near_bound.store(near, Ordering::Relaxed);
        if added == 1 { Ok(()) } else { Err(QueueError::Full { retry_after: FULL_RETRY_AFTER }) }
    }
}

#[async_trait]
impl HealthCheck for RedisIngestQueue {
    fn component(&self) -> &'static str {
        "redis"
    }

    async fn check(&self) -> Result<(), HealthError> {
        let pong: String = redis::cmd("PING")
            .query_async(&mut self.con())
            .await
            .map_err(|e| HealthError::unavailable("Redis", e))?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(HealthError::new(format!("Redis answered {pong:?} to PING")))
        }
    }
}

/// Decoded deliveries waiting in the consumer, with the entries that could not be decoded.
pub(crate) struct Decoded {
    pub(crate) ok: Vec<Delivery>,
    /// (entry id, raw payload, reason)
    pub(crate) poison: Vec<(String, Vec<u8>, String)>,
}
