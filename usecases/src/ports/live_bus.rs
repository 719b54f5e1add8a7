use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use microdash_domain::{Sample, TenantId};

/// What a live subscriber receives.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveMessage {
    /// Samples that were just stored, in storage order.
    Samples(Arc<Vec<Sample>>),
    /// The subscriber fell behind and missed this many messages; it should reload history.
    Lagged(u64),
}

/// Errors of the live bus.
#[derive(Debug, thiserror::Error)]
pub enum LiveBusError {
    /// The backend cannot be reached.
    #[error("live bus unavailable: {0}")]
    Unavailable(String),
}

/// Fan-out of stored samples to live viewers, per tenant. Best effort: a viewer that misses
/// samples reloads them from the store, so publishing never blocks storage.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LiveBus: Send + Sync {
    /// Publishes samples just stored for a tenant.
    ///
    /// # Errors
    /// [`LiveBusError::Unavailable`] when the backend cannot be reached.
    async fn publish(&self, tenant: TenantId, samples: Arc<Vec<Sample>>) -> Result<(), LiveBusError>;

    /// Subscribes to one tenant's samples from now on.
    ///
    /// # Errors
    /// [`LiveBusError::Unavailable`] when the backend cannot be reached.
    async fn subscribe(&self, tenant: TenantId) -> Result<BoxStream<'static, LiveMessage>, LiveBusError>;
}

/// Shared [`LiveBus`].
pub type LiveBusRef = Arc<dyn LiveBus>;
