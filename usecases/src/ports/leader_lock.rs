use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::BoxError;

/// Errors of the leader lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The backend cannot be reached; the caller must assume it is not the leader. Adapters
    /// MUST keep their own error as the source, never only its text.
    #[error("leader lock unavailable")]
    Unavailable(#[source] BoxError),
}

impl LockError {
    /// A [`LockError::Unavailable`] keeping `cause` (the backend's error) as its source.
    pub fn unavailable(cause: impl Into<BoxError>) -> Self {
        Self::Unavailable(cause.into())
    }
}

/// Who runs the scheduler: at most one holder at a time across every process that shares the
/// backend. The lock is a lease: a holder that stops renewing it (crashed, partitioned) loses it
/// after `ttl`, and another process takes over.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LeaderLock: Send + Sync {
    /// Takes the lock if it is free, or renews it if this process holds it, for `ttl`.
    /// `Ok(true)` when this process holds it now.
    ///
    /// # Errors
    /// [`LockError::Unavailable`] when the backend cannot be reached; its source MUST be the
    /// backend's own error.
    async fn acquire(&self, ttl: Duration) -> Result<bool, LockError>;

    /// Gives the lock up if this process holds it, so another can take over at once.
    ///
    /// # Errors
    /// [`LockError::Unavailable`] when the backend cannot be reached (the lease then simply expires).
    async fn release(&self) -> Result<(), LockError>;
}

/// Shared [`LeaderLock`].
pub type LeaderLockRef = Arc<dyn LeaderLock>;
