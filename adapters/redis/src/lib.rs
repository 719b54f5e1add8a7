//! Redis adapters of microdash for the production deployment (api and worker nodes sharing
//! one Redis): the ingest queue on Redis Streams, the live bus on pub/sub, and the rate limiter
//! every api node shares. They pass the same port contract suite as `adapters/memory`.
//!
//! Not for: the embedded single-process deployment (use `adapters/memory`), or storing
//! samples (Redis holds only what is in flight).
//!
//! # Key layout (every key and channel starts with [`RedisOptions::key_prefix`])
//! - `{prefix}ingest`: the ingest stream, one entry per accepted request (field `b`: the batch
//!   as compact JSON); consumer group [`RedisOptions::consumer_group`].
//! - `{prefix}ingest:dead`: dead letters (fields `id`, `reason`, `b`).
//! - `{prefix}live:{tenant}`: pub/sub channel of a tenant's stored samples.
//! - `{prefix}live:{tenant}:seq`: the counter of that channel's message ids (the live event ids).
//! - `{prefix}scheduler:leader`: the scheduler's leader lock (the leader's name, with a TTL).
//! - `{prefix}rl:{key}`: a rate-limit bucket (hash `tokens`, `at`), expiring when idle.
//!
//! # Layout
//! - [`options`]: [`RedisOptions`], the key names and [`ConnectError`].
//! - [`ingest_queue`]: [`RedisIngestQueue`] (`IngestQueue`, `IngestConsumer`, `HealthCheck`).
//! - [`leader_lock`]: [`RedisLeaderLock`], the scheduler's lease.
//! - [`live_bus`]: [`RedisLiveBus`], one pub/sub connection per process fanned out in process.
//! - [`rate_limiter`]: [`RedisRateLimiter`], a token bucket in a Lua script on Redis time.
//!
//! Entries and messages are in the binary form of `microdash-codec`, shared with the embedded
//! queue's journal.

pub mod ingest_queue;
pub mod leader_lock;
pub mod live_bus;
pub mod options;
pub mod rate_limiter;

pub use ingest_queue::{DeadLetter, QueueStats, RedisIngestQueue};
pub use leader_lock::RedisLeaderLock;
pub use live_bus::RedisLiveBus;
pub use options::{ConnectError, RedisOptions};
pub use rate_limiter::RedisRateLimiter;
