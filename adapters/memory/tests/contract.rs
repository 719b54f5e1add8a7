//! The memory adapters against the port contract suite: every contract function runs here
//! through the family macros, so none can be missed.

use std::sync::Arc;

use microdash_adapter_memory::{
    MemoryIngestQueue, MemoryLeaderLock, MemoryLiveBus, MemoryRateLimiter, MemoryStore, SystemClock,
};

microdash_usecases::storage_contract!(store => let store = MemoryStore::default());

microdash_usecases::live_bus_contract!(bus => let bus = MemoryLiveBus::new(16));

microdash_usecases::rate_limiter_contract!(limiter => let limiter = MemoryRateLimiter::new(Arc::new(SystemClock)));

// One queue is both producer and consumer.
microdash_usecases::ingest_queue_contract!(queue, queue => let queue = MemoryIngestQueue::new(1000));

microdash_usecases::leader_lock_contract!(a, b =>
    let a = MemoryLeaderLock::new();
    let b = a.handle("scheduler-2")
);
