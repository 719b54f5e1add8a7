//! A backend (in-memory store with tenants, ingest, a worker persisting the queue), bridges on
//! it, and MQTT publishers.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use microdash_adapter_memory::{
    FakeClock, MemoryIngestQueue, MemoryLiveBus, MemoryRateLimiter, MemoryStore, SystemClock,
};
use microdash_adapter_mqtt::{Bridge, BridgeError, BridgeOptions, MqttMetricsRef};
use microdash_domain::Tenant;
use microdash_usecases::ingest::TenantDirectory;
use microdash_usecases::ports::Clock;
use microdash_usecases::{
    AdminService, IngestLimits, IngestService, PersistOptions, PersistService, QueryService,
};
use rumqttc::{AsyncClient, ConnectionError, Event, MqttOptions, Packet, QoS};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::stored::{Point, stored, stored_eventually};

pub const WITHIN: Duration = Duration::from_secs(15);

pub struct Backend {
    pub ingest: Arc<IngestService>,
    pub tenants: Arc<TenantDirectory>,
    pub admin: AdminService,
    pub clock: Arc<FakeClock>,
    query: QueryService,
}

impl Backend {
    pub async fn new() -> Backend {
        let clock = Arc::new(FakeClock::new(SystemClock.now()));
        let store = Arc::new(MemoryStore::default());
        let queue = Arc::new(MemoryIngestQueue::new(1_000_000));
        let limiter = Arc::new(MemoryRateLimiter::new(clock.clone()));
        let ingest =
            Arc::new(IngestService::new(queue.clone(), limiter, clock.clone(), IngestLimits::default()));
        let persist = Arc::new(PersistService::new(
            queue,
            store.clone(),
            store.clone(),
            Arc::new(MemoryLiveBus::new(16)),
            PersistOptions::default(),
        ));
        tokio::spawn(async move { persist.run().await });
        Backend {
            ingest,
            tenants: Arc::new(TenantDirectory::new(store.clone(), clock.clone())),
            admin: AdminService::new(store.clone(), store.clone(), clock.clone()),
            query: QueryService::new(
                store.clone(),
                store.clone(),
                store.clone(),
                store,
                clock.clone(),
                microdash_usecases::QueryOptions::default(),
            ),
            clock,
        }
    }

    /// A tenant with a slug no other test run uses (brokers on the machine are shared).
    pub async fn unique_tenant(&self) -> Tenant {
        let slug = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        self.admin.create_tenant(&slug, None).await.unwrap()
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now().as_millis()
    }

    pub async fn stored(&self, tenant: &Tenant, metric: &str) -> Vec<Point> {
        stored(&self.query, tenant.id, metric, self.now_ms()).await
    }

    pub async fn stored_eventually(&self, tenant: &Tenant, metric: &str, count: usize) -> Vec<Point> {
        stored_eventually(&self.query, tenant.id, metric, count, || self.now_ms(), WITHIN).await
    }

    /// Connects a bridge and runs it until the returned handle is stopped.
    pub async fn bridge(&self, options: BridgeOptions) -> Result<RunningBridge, BridgeError> {
        let bridge = Bridge::connect(options, self.ingest.clone(), self.tenants.clone()).await?;
        let metrics = bridge.metrics();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(bridge.run(async move {
            let _ = stopped.await;
        }));
        Ok(RunningBridge { metrics, stop: Some(stop), task: Some(task) })
    }
}

pub struct RunningBridge {
    pub metrics: MqttMetricsRef,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningBridge {
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WITHIN, task).await.expect("the bridge did not stop").unwrap();
        }
    }
}

/// Bridge options for a broker on 127.0.0.1:`port`, with a client id and share group of its own.
pub fn bridge_options(port: u16) -> BridgeOptions {
    let mut o = BridgeOptions::from_url(&format!("mqtt://127.0.0.1:{port}")).unwrap();
    let unique = uuid::Uuid::new_v4().simple().to_string();
    o.client_id = format!("bridge-{}", &unique[..12]);
    o.share_group = format!("g{}", &unique[..12]);
    o
}

/// A publisher at the broker; `Err` when the broker refuses it.
pub struct Publisher {
    pub client: AsyncClient,
    pub events: tokio::sync::mpsc::UnboundedReceiver<Packet>,
    /// Packets [`Publisher::next`] passed over, so that none is lost to a later assertion.
    skipped: Vec<Packet>,
}

impl Publisher {
    pub async fn connect(port: u16, credentials: Option<(&str, &str)>) -> Result<Publisher, ConnectionError> {
        let mut o = MqttOptions::new(format!("pub-{}", uuid::Uuid::new_v4().simple()), "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(30));
        if let Some((user, password)) = credentials {
            o.set_credentials(user, password);
        }
        let (client, mut eventloop) = AsyncClient::new(o, 100);
        while !matches!(
            tokio::time::timeout(WITHIN, eventloop.poll()).await.expect("no CONNACK")?,
            Event::Incoming(Packet::ConnAck(_))
        ) {}
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(event) = eventloop.poll().await {
                if let Event::Incoming(p) = event
                    && tx.send(p).is_err()
                {
                    return;
                }
            }
        });
        Ok(Publisher { client, events, skipped: Vec::new() })
    }

    /// Publishes at QoS 1 and waits for the broker's PUBACK.
    pub async fn publish(&mut self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload).await.unwrap();
        self.next(|p| matches!(p, Packet::PubAck(_))).await;
    }

    pub async fn next(&mut self, wanted: impl Fn(&Packet) -> bool) -> Packet {
        tokio::time::timeout(WITHIN, async {
            loop {
                let p = self.events.recv().await.expect("publisher connection lost");
                if wanted(&p) {
                    return p;
                }
                self.skipped.push(p);
            }
        })
        .await
        .expect("nothing wanted from the broker in time")
    }
}

impl Publisher {
    /// Every PUBLISH the broker sent this client so far, whether or not `next` passed over it.
    pub fn publishes_received(&mut self) -> Vec<Packet> {
        let mut all = std::mem::take(&mut self.skipped);
        while let Ok(p) = self.events.try_recv() {
            all.push(p);
        }
        all.into_iter().filter(|p| matches!(p, Packet::Publish(_))).collect()
    }
}

/// Polls `check` until it holds or [`WITHIN`] passed.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WITHIN;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
