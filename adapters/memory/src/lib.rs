//! In-process adapters: the queue, live bus and rate limiter of the embedded default
//! (`microdash serve` on one machine), an in-memory store, and the clocks. They are production
//! code for the embedded deployment and the fakes of the use-case tests alike; the port
//! contract suite holds them to the same behaviour as the SQL and Redis adapters.
//!
//! Not for: anything that must survive a crash. The queue lives in memory and is drained on a
//! graceful shutdown; the store forgets everything when the process ends.
//!
//! # Layout
//! - [`clock`]: [`SystemClock`] and [`FakeClock`].
//! - [`ingest_queue`]: [`MemoryIngestQueue`], bounded by samples, closable for draining.
//! - [`leader_lock`]: [`MemoryLeaderLock`], a lease among handles of one process.
//! - [`live_bus`]: [`MemoryLiveBus`], a broadcast channel per tenant.
//! - [`rate_limiter`]: [`MemoryRateLimiter`], token buckets refilled continuously.
//! - [`store`]: [`MemoryStore`], every storage port over maps.

pub mod clock;
pub mod ingest_queue;
pub mod leader_lock;
pub mod live_bus;
pub mod rate_limiter;
pub mod store;

pub use clock::{FakeClock, SystemClock};
pub use ingest_queue::{MemoryIngestQueue, Reservation};
pub use leader_lock::MemoryLeaderLock;
pub use live_bus::MemoryLiveBus;
pub use rate_limiter::MemoryRateLimiter;
pub use store::MemoryStore;
