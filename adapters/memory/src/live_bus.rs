//! The embedded default's live bus: one broadcast channel per tenant with subscribers, and a
//! per-tenant message counter, both behind one mutex so that ids and delivery order agree.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use microdash_domain::{Sample, TenantId};
use microdash_usecases::ports::{LiveBus, LiveBusError, LiveMessage, LiveSubscription};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// Fan-out of stored samples to the subscribers of each tenant, in process.
pub struct MemoryLiveBus {
    /// Messages a subscriber may fall behind before it is told it lagged.
    capacity: usize,
    /// A std mutex: held only for a counter increment and a non-blocking send.
    tenants: Mutex<HashMap<TenantId, Channel>>,
}

#[derive(Default)]
struct Channel {
    /// Id of the last message published; 0 before the first.
    last_id: u64,
    /// `None` while nobody subscribes.
    tx: Option<broadcast::Sender<LiveMessage>>,
}

impl MemoryLiveBus {
    /// A bus whose subscribers may lag `capacity` messages behind before losing some.
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), tenants: Mutex::new(HashMap::new()) }
    }
}

/// The first id of a tenant in this process: the time in microseconds, so that ids stay above
/// those a previous run of the process gave out (see the `LiveBus` contract).
fn first_id() -> u64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (since_epoch.as_micros() as u64).max(1)
}

#[async_trait]
impl LiveBus for MemoryLiveBus {
    async fn publish(&self, tenant: TenantId, samples: Arc<Vec<Sample>>) -> Result<(), LiveBusError> {
        let mut tenants = self.tenants.lock().expect("live bus mutex poisoned");
        let channel = tenants.entry(tenant).or_default();
        channel.last_id = if channel.last_id == 0 { first_id() } else { channel.last_id + 1 };
        if let Some(tx) = &channel.tx {
            if tx.receiver_count() == 0 {
                channel.tx = None;
            } else {
                // Fails only without receivers, which was just ruled out.
                let _ = tx.send(LiveMessage::Samples { id: channel.last_id, samples });
            }
        }
        Ok(())
    }

    async fn subscribe(&self, tenant: TenantId) -> Result<LiveSubscription, LiveBusError> {
        let (last_id, rx) = {
            let mut tenants = self.tenants.lock().expect("live bus mutex poisoned");
            let channel = tenants.entry(tenant).or_default();
            let tx = channel.tx.get_or_insert_with(|| broadcast::channel(self.capacity).0);
            (channel.last_id, tx.subscribe())
        };
        let messages = BroadcastStream::new(rx)
            .map(|m| match m {
                Ok(m) => m,
                Err(BroadcastStreamRecvError::Lagged(n)) => LiveMessage::Lagged(n),
            })
            .boxed();
        Ok(LiveSubscription { last_id, messages })
    }
}

#[cfg(test)]
mod tests {
    use microdash_domain::sample::SeriesKey;
    use microdash_domain::{MetricName, Tags, Timestamp};

    use super::*;

    fn one(value: f64) -> Arc<Vec<Sample>> {
        let series = SeriesKey { metric: MetricName::new("m").unwrap(), agent: None, tags: Tags::empty() };
        Arc::new(vec![Sample { series, value, timestamp: Timestamp::from_millis(0), dedupe_id: None }])
    }

    #[tokio::test]
    async fn ids_continue_while_nobody_listens_and_start_above_earlier_runs() {
        let before = first_id();
        let bus = MemoryLiveBus::new(4);
        let tenant = TenantId::new(1);
        bus.publish(tenant, one(1.0)).await.unwrap();
        bus.publish(tenant, one(2.0)).await.unwrap();
        let mut sub = bus.subscribe(tenant).await.unwrap();
        assert!(sub.last_id > before, "the first id comes from the clock: {} <= {before}", sub.last_id);
        bus.publish(tenant, one(3.0)).await.unwrap();
        let Some(LiveMessage::Samples { id, samples }) = sub.messages.next().await else { panic!() };
        assert_eq!((id, samples), (sub.last_id + 1, one(3.0)));
        let other = bus.subscribe(TenantId::new(2)).await.unwrap();
        assert_eq!(other.last_id, 0, "a tenant that never published");
    }
}
