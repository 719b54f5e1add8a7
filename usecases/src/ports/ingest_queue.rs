use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use microdash_domain::{Sample, TenantId, Timestamp};

use super::BoxError;

/// One accepted request, as it travels from the API to the worker.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestBatch {
    /// The id returned to the client in the 202.
    pub request_id: String,
    /// Owner of every sample in it.
    pub tenant: TenantId,
    /// When the API accepted it.
    pub received_at: Timestamp,
    /// Validated samples.
    pub samples: Vec<Sample>,
}

/// A batch handed to a consumer, to be acknowledged once stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Queue-specific id, given back to [`IngestConsumer::ack`].
    pub id: String,
    /// The batch.
    pub batch: IngestBatch,
}

/// Errors of the queue ports.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue is at capacity; the producer should come back later.
    #[error("ingest queue is full")]
    Full {
        /// A fair time to wait before retrying.
        retry_after: Duration,
    },
    /// The queue is shutting down and takes nothing more.
    #[error("ingest queue is closed")]
    Closed,
    /// The backend cannot be reached or failed. Adapters MUST keep their own error (e.g. the
    /// `redis::RedisError`) as the source, never only its text.
    #[error("ingest queue unavailable")]
    Unavailable(#[source] BoxError),
}

impl QueueError {
    /// A [`QueueError::Unavailable`] keeping `cause` (the backend's error) as its source.
    pub fn unavailable(cause: impl Into<BoxError>) -> Self {
        Self::Unavailable(cause.into())
    }
}

/// The producing half of the ingest queue (the api role).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IngestQueue: Send + Sync {
    /// Durably enqueues one batch; once this returns `Ok` the batch will be stored.
    ///
    /// # Errors
    /// - [`QueueError::Full`] when the queue is at capacity.
    /// - [`QueueError::Closed`] during shutdown.
    /// - [`QueueError::Unavailable`] when the backend cannot be reached; its source MUST be the
    ///   backend's own error, which the API's log line for the 503 names.
    async fn enqueue(&self, batch: IngestBatch) -> Result<(), QueueError>;
}

/// The consuming half of the ingest queue (the worker role).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IngestConsumer: Send + Sync {
    /// Waits for at least one batch and returns as many as are ready, up to about
    /// `max_samples` samples in all (always at least one batch). `Ok(None)` once the queue is
    /// closed and drained: the consumer should stop.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when the backend cannot be reached; callers retry.
    async fn next(&self, max_samples: usize) -> Result<Option<Vec<Delivery>>, QueueError>;

    /// Acknowledges stored deliveries so they are not handed out again.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when the backend cannot be reached.
    async fn ack(&self, ids: &[String]) -> Result<(), QueueError>;

    /// Sets aside a delivery the store refused for good, so it stops blocking the others:
    /// the Redis queue moves it to its dead-letter stream for the operator to inspect and
    /// replay; the in-process queue logs it (its samples are lost).
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when the backend cannot be reached; callers retry.
    async fn reject(&self, id: &str, reason: &str) -> Result<(), QueueError>;

    /// Tells the queue that these deliveries are still being worked on (a store outage can
    /// keep a worker retrying for minutes), so they are not handed to another worker.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when the backend cannot be reached.
    async fn extend(&self, ids: &[String]) -> Result<(), QueueError>;
}

/// Shared [`IngestQueue`].
pub type IngestQueueRef = Arc<dyn IngestQueue>;
/// Shared [`IngestConsumer`].
pub type IngestConsumerRef = Arc<dyn IngestConsumer>;
