use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use microdash_domain::{Sample, TenantId};

use super::BoxError;

/// What a live subscriber receives.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveMessage {
    /// Samples that were just stored, in storage order, under the id the bus gave them.
    Samples {
        /// The message's id: per tenant, one more than the previous message's (see
        /// [`LiveBus`] for when it jumps).
        id: u64,
        /// The samples.
        samples: Arc<Vec<Sample>>,
    },
    /// The subscriber fell behind and missed this many messages (0: an unknown number, e.g.
    /// after a reconnection). The ids of the next messages show where the gap is.
    Lagged(u64),
}

/// A subscription to one tenant's messages.
pub struct LiveSubscription {
    /// Id of the newest message published for the tenant before the subscription started; 0
    /// when the tenant has never published. Every message with a larger id is delivered.
    pub last_id: u64,
    /// The messages with ids above [`LiveSubscription::last_id`], in id order.
    pub messages: BoxStream<'static, LiveMessage>,
}

impl std::fmt::Debug for LiveSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSubscription").field("last_id", &self.last_id).finish_non_exhaustive()
    }
}

/// Errors of the live bus.
#[derive(Debug, thiserror::Error)]
pub enum LiveBusError {
    /// The backend cannot be reached or failed. Adapters MUST keep their own error as the
    /// source, never only its text.
    #[error("live bus unavailable")]
    Unavailable(#[source] BoxError),
}

impl LiveBusError {
    /// A [`LiveBusError::Unavailable`] keeping `cause` (the backend's error, or what went wrong
    /// when there is none) as its source.
    pub fn unavailable(cause: impl Into<BoxError>) -> Self {
        Self::Unavailable(cause.into())
    }
}

/// Fan-out of stored samples to live viewers, per tenant. Best effort: a viewer that misses
/// samples reloads them from the store, so publishing never blocks storage.
///
/// The bus numbers each tenant's messages where they are published, so an id means the same
/// message on every node that subscribes (a browser's `Last-Event-ID` stays valid when it
/// reconnects to another api node). Ids are per tenant and strictly increasing: each message
/// gets the previous id plus one, except when the bus lost its counter (a restart of the
/// in-process bus, a flushed Redis); it then starts again from the current time in
/// microseconds, above every id it gave before, so a jump — never a repeat — shows the gap.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LiveBus: Send + Sync {
    /// Gives the samples just stored for a tenant the tenant's next id and delivers them to
    /// its subscribers on every node.
    ///
    /// # Errors
    /// [`LiveBusError::Unavailable`] when the backend cannot be reached, with the backend's own
    /// error as its source; the message MUST then not be delivered to anyone (it gets no id).
    async fn publish(&self, tenant: TenantId, samples: Arc<Vec<Sample>>) -> Result<(), LiveBusError>;

    /// Subscribes to one tenant's messages from now on. Messages MUST arrive in id order and
    /// MUST NOT include ids at or below [`LiveSubscription::last_id`]; a subscriber that falls
    /// behind gets [`LiveMessage::Lagged`] and then the newest messages.
    ///
    /// # Errors
    /// [`LiveBusError::Unavailable`] when the backend cannot be reached.
    async fn subscribe(&self, tenant: TenantId) -> Result<LiveSubscription, LiveBusError>;
}

/// Shared [`LiveBus`].
pub type LiveBusRef = Arc<dyn LiveBus>;
