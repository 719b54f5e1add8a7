//! The live bus of the production deployment: the worker publishes each tenant's stored
//! samples to `{prefix}live:{tenant}` with one Lua script that takes the tenant's next id from
//! `{prefix}live:{tenant}:seq` (`INCR`) and `PUBLISH`es `<id> <json>` atomically, so ids follow
//! publication order on every node. Each api node holds **one** pub/sub connection, subscribed
//! to the tenants its viewers watch, and fans messages out in process through a broadcast
//! channel per tenant. A viewer that falls behind gets [`LiveMessage::Lagged`].
//!
//! Not for: delivery guarantees. Pub/sub is best effort; after a reconnection every viewer
//! gets `Lagged(0)` (an unknown number missed), and the ids of the next messages show the gap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use microdash_domain::{Sample, TenantId};
use microdash_usecases::ports::{LiveBus, LiveBusError, LiveMessage, LiveSubscription};
use redis::aio::{ConnectionManager, PubSubSink, PubSubStream};
use tokio::sync::{broadcast, oneshot};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::options::{ConnectError, RedisOptions};
use microdash_codec as codec;

/// KEYS[1] = the tenant's id counter; ARGV[1] = the samples as JSON, ARGV[2] = the channel.
/// A missing counter starts from Redis's time in microseconds, above every id given before it
/// was lost (see the `LiveBus` contract). Numbers go through `%d`: Lua's default formatting
/// would write a 16-digit id in exponent notation.
const PUBLISH_SCRIPT: &str = r"
local id = redis.call('INCR', KEYS[1])
if id == 1 then
  local t = redis.call('TIME')
  id = tonumber(t[1]) * 1000000 + tonumber(t[2])
  redis.call('SET', KEYS[1], string.format('%d', id))
end
redis.call('PUBLISH', ARGV[2], string.format('%d', id) .. ' ' .. ARGV[1])
return id
";

/// First pause before reconnecting the pub/sub connection; doubles up to [`RECONNECT_MAX`].
const RECONNECT_MIN: Duration = Duration::from_millis(50);
/// Longest pause between reconnection attempts: viewers are live, so come back quickly.
const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// Fan-out of stored samples through Redis pub/sub, shared by every node on the same Redis.
pub struct RedisLiveBus {
    shared: Arc<Shared>,
    publisher: ConnectionManager,
    script: redis::Script,
    /// Dropped with the bus, which stops the receiving task.
    _stop: oneshot::Sender<()>,
}

struct Shared {
    options: RedisOptions,
    client: redis::Client,
    /// Messages a viewer may fall behind before it is told it lagged.
    capacity: usize,
    /// Channel name → the in-process fan-out of that tenant. A std mutex: held only for
    /// map operations and non-blocking sends, never across an await.
    channels: Mutex<HashMap<String, broadcast::Sender<LiveMessage>>>,
    /// The subscribing half of the pub/sub connection; `None` while reconnecting. Its lock
    /// also serialises subscribe, unsubscribe and resubscribe-after-reconnect, so that a
    /// channel is in `channels` exactly when Redis has it subscribed.
    sink: tokio::sync::Mutex<Option<PubSubSink>>,
}

impl RedisLiveBus {
    /// Connects the publisher and the process's pub/sub connection. Viewers may fall up to
    /// `capacity` messages behind before they are told they lagged.
    ///
    /// # Errors
    /// [`ConnectError`] when the URL is invalid or Redis does not answer.
    pub async fn connect(options: RedisOptions, capacity: usize) -> Result<Self, ConnectError> {
        let publisher = options.manager(Duration::ZERO).await?;
        let client = options.client()?;
        let (sink, stream) = client.get_async_pubsub().await.map_err(ConnectError)?.split();
        let shared = Arc::new(Shared {
            options,
            client,
            capacity: capacity.max(1),
            channels: Mutex::new(HashMap::new()),
            sink: tokio::sync::Mutex::new(Some(sink)),
        });
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(receive(shared.clone(), stream, stopped));
        Ok(Self { shared, publisher, script: redis::Script::new(PUBLISH_SCRIPT), _stop: stop })
    }
}

#[async_trait]
impl LiveBus for RedisLiveBus {
    async fn publish(&self, tenant: TenantId, samples: Arc<Vec<Sample>>) -> Result<(), LiveBusError> {
        self.script
            .key(seq_key(&self.shared.options, tenant))
            .arg(codec::encode_samples(&samples))
            .arg(self.shared.options.live_channel(tenant))
            .invoke_async::<u64>(&mut self.publisher.clone())
            .await
            .map(drop)
            .map_err(LiveBusError::unavailable)
    }

    async fn subscribe(&self, tenant: TenantId) -> Result<LiveSubscription, LiveBusError> {
        let channel = self.shared.options.live_channel(tenant);
        let rx = {
            let mut sink = self.shared.sink.lock().await;
            let existing = self.shared.channels().get(&channel).map(broadcast::Sender::subscribe);
            match existing {
                Some(rx) => rx,
                None => {
                    let Some(sink) = sink.as_mut() else {
                        return Err(LiveBusError::unavailable("reconnecting to Redis pub/sub"));
                    };
                    // Registered before SUBSCRIBE, so nothing that arrives right after is dropped.
                    let rx = self
                        .shared
                        .channels()
                        .entry(channel.clone())
                        .or_insert_with(|| self.shared.sender())
                        .subscribe();
                    if let Err(e) = sink.subscribe(&channel).await {
                        self.shared.channels().remove(&channel);
                        return Err(LiveBusError::unavailable(e));
                    }
                    rx
                }
            }
        };
        // Read once the subscription is in place: every later message has a larger id and
        // arrives on `rx`; those up to `last_id` that are still in flight are dropped below.
        let last_id: Option<u64> = redis::cmd("GET")
            .arg(seq_key(&self.shared.options, tenant))
            .query_async(&mut self.publisher.clone())
            .await
            .map_err(LiveBusError::unavailable)?;
        let last_id = last_id.unwrap_or(0);
        let messages = BroadcastStream::new(rx)
            .filter_map(move |m| {
                std::future::ready(match m {
                    Ok(LiveMessage::Samples { id, .. }) if id <= last_id => None,
                    Ok(m) => Some(m),
                    Err(BroadcastStreamRecvError::Lagged(n)) => Some(LiveMessage::Lagged(n)),
                })
            })
            .boxed();
        Ok(LiveSubscription { last_id, messages })
    }
}

/// The counter of a tenant's message ids.
fn seq_key(options: &RedisOptions, tenant: TenantId) -> String {
    format!("{}:seq", options.live_channel(tenant))
}

impl Shared {
    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<LiveMessage>>> {
        self.channels.lock().expect("live bus mutex poisoned")
    }

    fn sender(&self) -> broadcast::Sender<LiveMessage> {
        broadcast::channel(self.capacity).0
    }

    /// Hands a message to the tenant's viewers; returns false when it has none left.
    fn dispatch(&self, msg: &redis::Msg) -> bool {
        // Decoded outside the lock, so subscribing never waits for a large message.
        let Some(tx) = self.channels().get(msg.get_channel_name()).cloned() else { return false };
        if tx.receiver_count() == 0 {
            return false;
        }
        match decode_message(msg.get_payload_bytes()) {
            // Fails only when the last viewer just left; the next message unsubscribes.
            Ok((id, samples)) => drop(tx.send(LiveMessage::Samples { id, samples: Arc::new(samples) })),
            Err(error) => {
                tracing::warn!(error = %error, channel = msg.get_channel_name(), "Undecodable live message skipped.")
            }
        }
        true
    }

    /// Unsubscribes from a channel nobody watches any more (unless someone just subscribed).
    async fn unsubscribe_if_unwatched(self: Arc<Self>, channel: String) {
        let mut sink = self.sink.lock().await;
        let unwatched = {
            let mut channels = self.channels();
            let idle = channels.get(&channel).is_some_and(|tx| tx.receiver_count() == 0);
            if idle {
                channels.remove(&channel);
            }
            idle
        };
        if let (true, Some(sink)) = (unwatched, sink.as_mut())
            && let Err(error) = sink.unsubscribe(&channel).await
        {
            tracing::debug!(error = %error, "Could not unsubscribe from a live channel.");
        }
    }

    /// Opens a new pub/sub connection and subscribes again to every watched channel.
    async fn reconnect(&self) -> redis::RedisResult<PubSubStream> {
        let mut slot = self.sink.lock().await;
        *slot = None;
        let (mut sink, stream) = self.client.get_async_pubsub().await?.split();
        let watched: Vec<String> = {
            let mut channels = self.channels();
            channels.retain(|_, tx| tx.receiver_count() > 0);
            channels.keys().cloned().collect()
        };
        if !watched.is_empty() {
            sink.subscribe(&watched).await?;
        }
        *slot = Some(sink);
        for tx in self.channels().values() {
            // Whatever was published meanwhile is lost: viewers reload history.
            let _ = tx.send(LiveMessage::Lagged(0));
        }
        Ok(stream)
    }
}

/// Splits a published `<id> <json>` message.
fn decode_message(payload: &[u8]) -> Result<(u64, Vec<Sample>), String> {
    let space = payload.iter().position(|&b| b == b' ').ok_or("no id")?;
    let id = std::str::from_utf8(&payload[..space])
        .ok()
        .and_then(|id| id.parse().ok())
        .ok_or("the id is not a number")?;
    let samples = codec::decode_samples(&payload[space + 1..]).map_err(|e| e.to_string())?;
    Ok((id, samples))
}

/// The one receiving task: fans messages out, reconnects when the connection drops.
async fn receive(shared: Arc<Shared>, mut stream: PubSubStream, mut stop: oneshot::Receiver<()>) {
    loop {
        loop {
            tokio::select! {
                _ = &mut stop => return,
                msg = stream.next() => match msg {
                    Some(msg) => {
                        if !shared.dispatch(&msg) {
                            tokio::spawn(shared.clone().unsubscribe_if_unwatched(msg.get_channel_name().to_owned()));
                        }
                    }
                    None => break,
                },
            }
        }
        tracing::warn!("Live bus lost its Redis pub/sub connection; reconnecting.");
        let mut pause = RECONNECT_MIN;
        stream = loop {
            tokio::select! {
                _ = &mut stop => return,
                () = tokio::time::sleep(pause) => {}
            }
            match shared.reconnect().await {
                Ok(stream) => break stream,
                Err(error) => {
                    tracing::warn!(error = %error, retry_in_ms = pause.as_millis() as u64, "Cannot reconnect the live bus.");
                    pause = (pause * 2).min(RECONNECT_MAX);
                }
            }
        };
        tracing::info!("Live bus reconnected to Redis pub/sub.");
    }
}
