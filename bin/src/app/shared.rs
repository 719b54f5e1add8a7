//! The infrastructure the roles of one deployment share: the ingest queue, the live bus, the
//! rate limiter and the scheduler's leader lock, in process (`serve` on the embedded default)
//! or in Redis (`--redis-url`). Not for the database: that is [`crate::storage`].

use std::sync::Arc;

use anyhow::Context;
use microdash_adapter_journal::{JournalIngestQueue, JournalOptions};
use microdash_adapter_memory::{MemoryLeaderLock, MemoryLiveBus, MemoryRateLimiter};
use microdash_adapter_redis::{
    RedisIngestQueue, RedisLeaderLock, RedisLiveBus, RedisOptions, RedisRateLimiter,
};
use microdash_usecases::ports::{
    ClockRef, HealthCheckRef, IngestConsumerRef, IngestQueueRef, LeaderLockRef, LiveBusRef, RateLimiterRef,
};

use crate::config::ServeArgs;

/// Messages a live subscriber may fall behind before it is told to reload.
const LIVE_BUFFER: usize = 1024;

/// Bytes after which the journal starts a new segment file: a stored segment's space is given
/// back whole, and 64 MiB (about 60 s of batches at 100k samples/s) keeps the files few.
const JOURNAL_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// The ingest queue in use; both halves come from the same object.
pub(crate) enum Queue {
    /// In process, every batch in the journal under `<data-dir>/queue` before its 202.
    Journal(Arc<JournalIngestQueue>),
    Redis(Arc<RedisIngestQueue>),
}

impl Queue {
    /// The half the api role and the bridge enqueue into.
    pub(crate) fn producer(&self) -> IngestQueueRef {
        match self {
            Self::Journal(q) => q.clone(),
            Self::Redis(q) => q.clone(),
        }
    }

    /// The half the worker consumes.
    pub(crate) fn consumer(&self) -> IngestConsumerRef {
        match self {
            Self::Journal(q) => q.clone(),
            Self::Redis(q) => q.clone(),
        }
    }

    /// Readiness of the queue, for `/readyz`.
    pub(crate) fn health(&self) -> HealthCheckRef {
        match self {
            Self::Journal(q) => q.clone(),
            Self::Redis(q) => q.clone(),
        }
    }

    /// Stops taking batches; the worker drains what it holds (in process: everything queued).
    pub(crate) fn close(&self) {
        match self {
            Self::Journal(q) => {
                tracing::info!(
                    queued_samples = q.depth(),
                    "Draining the in-process ingest queue; what is not stored by the end stays in the journal for the next start."
                );
                q.close();
            }
            Self::Redis(q) => q.close(),
        }
    }
}

/// The shared infrastructure: in process, or in Redis.
pub(crate) struct Shared {
    pub(crate) queue: Queue,
    pub(crate) live: LiveBusRef,
    pub(crate) limiter: RateLimiterRef,
    pub(crate) lock: LeaderLockRef,
}

impl Shared {
    /// In process without `redis`; otherwise connects each piece to Redis.
    ///
    /// # Errors
    /// When Redis cannot be reached, saying where it was looked for.
    pub(crate) async fn connect(
        redis: Option<RedisOptions>,
        args: &ServeArgs,
        clock: &ClockRef,
    ) -> anyhow::Result<Self> {
        let Some(options) = redis else {
            let journal = JournalOptions {
                dir: args.store.data_dir.join("queue"),
                capacity_samples: args.queue_capacity,
                segment_bytes: JOURNAL_SEGMENT_BYTES,
            };
            // Reading back the last run's segments is file I/O: off the runtime's threads.
            let (queue, _replayed) = tokio::task::spawn_blocking(move || JournalIngestQueue::open(&journal))
                .await
                .context("opening the ingest journal")??;
            return Ok(Self {
                queue: Queue::Journal(Arc::new(queue)),
                live: Arc::new(MemoryLiveBus::new(LIVE_BUFFER)),
                limiter: Arc::new(MemoryRateLimiter::new(clock.clone())),
                lock: Arc::new(MemoryLeaderLock::new()),
            });
        };
        let shown = format!("{options:?}");
        let context = || format!("connecting to Redis ({shown}); is it running?");
        let queue = RedisIngestQueue::connect(options.clone()).await.with_context(context)?;
        let live = RedisLiveBus::connect(options.clone(), LIVE_BUFFER).await.with_context(context)?;
        let limiter = RedisRateLimiter::connect(options.clone()).await.with_context(context)?;
        let lock =
            RedisLeaderLock::connect(&options, options.consumer_name.clone()).await.with_context(context)?;
        tracing::info!(options = %shown, "Redis ready: ingest queue, live bus, rate limits and scheduler lock.");
        Ok(Self {
            queue: Queue::Redis(Arc::new(queue)),
            live: Arc::new(live),
            limiter: Arc::new(limiter),
            lock: Arc::new(lock),
        })
    }
}
