//! An in-process leader lock: the embedded deployment runs one scheduler, which always gets
//! it; tests make several handles on one lock to play several schedulers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use microdash_usecases::ports::{LeaderLock, LockError};
use tokio::time::Instant;

#[derive(Debug, Default)]
struct Held {
    holder: String,
    until: Option<Instant>,
}

/// A lease held by one named handle at a time; other handles made with
/// [`MemoryLeaderLock::handle`] share it. Time is tokio's, so paused-time tests can expire it.
#[derive(Debug, Clone)]
pub struct MemoryLeaderLock {
    state: Arc<Mutex<Held>>,
    name: String,
}

impl Default for MemoryLeaderLock {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryLeaderLock {
    /// A free lock, and the first handle on it.
    pub fn new() -> Self {
        Self { state: Arc::default(), name: "scheduler-1".into() }
    }

    /// Another holder of the same lock.
    pub fn handle(&self, name: impl Into<String>) -> Self {
        Self { state: self.state.clone(), name: name.into() }
    }
}

#[async_trait]
impl LeaderLock for MemoryLeaderLock {
    async fn acquire(&self, ttl: Duration) -> Result<bool, LockError> {
        let mut held = self.state.lock().expect("leader lock poisoned");
        let now = Instant::now();
        let free = held.until.is_none_or(|until| until <= now);
        if free || held.holder == self.name {
            held.holder.clone_from(&self.name);
            held.until = Some(now + ttl);
            return Ok(true);
        }
        Ok(false)
    }

    async fn release(&self) -> Result<(), LockError> {
        let mut held = self.state.lock().expect("leader lock poisoned");
        if held.holder == self.name {
            held.until = None;
        }
        Ok(())
    }
}
