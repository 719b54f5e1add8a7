use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::BoxError;

/// The answer of a rate limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead; the cost was taken from the budget.
    Granted,
    /// Over budget; nothing was taken. Retry after this long.
    Denied {
        /// When enough budget will be back for this cost.
        retry_after: Duration,
    },
}

/// Errors of the rate limiter.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// The backend cannot be reached or failed. Adapters MUST keep their own error as the
    /// source, never only its text.
    #[error("rate limiter unavailable")]
    Unavailable(#[source] BoxError),
}

impl RateLimitError {
    /// A [`RateLimitError::Unavailable`] keeping `cause` (the backend's error) as its source.
    pub fn unavailable(cause: impl Into<BoxError>) -> Self {
        Self::Unavailable(cause.into())
    }
}

/// Per-key budgets of "so many per minute", refilled continuously (a token bucket whose
/// capacity is one minute's worth), shared by every api node that shares the backend.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Takes `cost` from `key`'s budget of `per_minute`, or says how long to wait.
    /// A `cost` above `per_minute` can never be granted and is denied with a minute's wait.
    ///
    /// # Errors
    /// [`RateLimitError::Unavailable`] when the backend cannot be reached; its source MUST be
    /// the backend's own error.
    async fn acquire(&self, key: &str, cost: u64, per_minute: u64) -> Result<Admission, RateLimitError>;

    /// Gives `cost` back to `key`'s budget of `per_minute` (never above one minute's worth):
    /// for work that was admitted and then not done (the queue refused it), so that the retry
    /// the client is told to make is not charged twice.
    ///
    /// # Errors
    /// [`RateLimitError::Unavailable`] when the backend cannot be reached.
    async fn refund(&self, key: &str, cost: u64, per_minute: u64) -> Result<(), RateLimitError>;
}

/// Shared [`RateLimiter`].
pub type RateLimiterRef = Arc<dyn RateLimiter>;
