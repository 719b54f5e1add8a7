//! The embedded default's live bus: one broadcast channel per tenant with subscribers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use microdash_domain::{Sample, TenantId};
use microdash_usecases::ports::{LiveBus, LiveBusError, LiveMessage};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// Fan-out of stored samples to the subscribers of each tenant, in process.
pub struct MemoryLiveBus {
    /// Messages a subscriber may fall behind before it is told it lagged.
    capacity: usize,
    channels: Mutex<HashMap<TenantId, broadcast::Sender<LiveMessage>>>,
}

impl MemoryLiveBus {
    /// A bus whose subscribers may lag `capacity` messages behind before losing some.
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), channels: Mutex::new(HashMap::new()) }
    }
}

#[async_trait]
impl LiveBus for MemoryLiveBus {
    async fn publish(&self, tenant: TenantId, samples: Arc<Vec<Sample>>) -> Result<(), LiveBusError> {
        let mut channels = self.channels.lock().expect("live bus mutex poisoned");
        if let Some(tx) = channels.get(&tenant) {
            if tx.receiver_count() == 0 {
                channels.remove(&tenant);
            } else {
                // Fails only without receivers, which was just ruled out.
                let _ = tx.send(LiveMessage::Samples(samples));
            }
        }
        Ok(())
    }

    async fn subscribe(&self, tenant: TenantId) -> Result<BoxStream<'static, LiveMessage>, LiveBusError> {
        let rx = {
            let mut channels = self.channels.lock().expect("live bus mutex poisoned");
            channels.entry(tenant).or_insert_with(|| broadcast::channel(self.capacity).0).subscribe()
        };
        Ok(BroadcastStream::new(rx)
            .map(|m| match m {
                Ok(m) => m,
                Err(BroadcastStreamRecvError::Lagged(n)) => LiveMessage::Lagged(n),
            })
            .boxed())
    }
}
