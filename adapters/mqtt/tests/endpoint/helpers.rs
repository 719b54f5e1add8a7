//! The endpoint under test on 127.0.0.1:0 with in-memory adapters behind it (two tenants,
//! `alpha` and `beta`, with a token each), a worker persisting the queue, real MQTT clients
//! (rumqttc, and a raw 3.1.1 client for byte-exact cases), and polling with a deadline.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::BytesMut;
use microdash_adapter_memory::{
    FakeClock, MemoryIngestQueue, MemoryLiveBus, MemoryRateLimiter, MemoryStore, SystemClock,
};
use microdash_adapter_mqtt::{EndpointOptions, MqttEndpoint, MqttMetricsRef};
use microdash_domain::TenantId;
use microdash_usecases::ports::{
    Admission, Clock, IngestBatch, IngestQueue, QueueError, RateLimitError, RateLimiter,
};
use microdash_usecases::{
    AdminService, AuthService, IngestLimits, IngestService, PersistOptions, PersistService, QueryService,
};
use rumqttc::mqttbytes::v4::{Connect, Packet};
use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, Outgoing, QoS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::stored::{Point, stored, stored_eventually};

/// How long any awaited outcome may take before the test fails.
pub const WITHIN: Duration = Duration::from_secs(10);

/// The memory rate limiter, counting the requests it refused: proves a message was held for
/// quota, not merely not acknowledged yet.
pub struct CountingLimiter {
    inner: MemoryRateLimiter,
    pub denied: AtomicUsize,
}

#[async_trait]
impl RateLimiter for CountingLimiter {
    async fn acquire(&self, key: &str, cost: u64, per_minute: u64) -> Result<Admission, RateLimitError> {
        let admission = self.inner.acquire(key, cost, per_minute).await?;
        if matches!(admission, Admission::Denied { .. }) {
            self.denied.fetch_add(1, SeqCst);
        }
        Ok(admission)
    }

    async fn refund(&self, key: &str, cost: u64, per_minute: u64) -> Result<(), RateLimitError> {
        self.inner.refund(key, cost, per_minute).await
    }
}

/// A queue that counts its entries and can hold producers back until opened: proves that a
/// PUBACK waits for the enqueue, and how many entries coalescing wrote.
pub struct GatedQueue {
    pub inner: Arc<MemoryIngestQueue>,
    pub entries: AtomicUsize,
    open: watch::Sender<bool>,
}

impl GatedQueue {
    pub fn set_open(&self, open: bool) {
        self.open.send_replace(open);
    }
}

#[async_trait]
impl IngestQueue for GatedQueue {
    async fn enqueue(&self, batch: IngestBatch) -> Result<(), QueueError> {
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|o| *o).await;
        self.inner.enqueue(batch).await?;
        self.entries.fetch_add(1, SeqCst);
        Ok(())
    }
}

pub struct Setup {
    pub options: EndpointOptions,
    pub limits: IngestLimits,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            options: EndpointOptions::new("127.0.0.1:0".parse().unwrap()),
            limits: IngestLimits::default(),
        }
    }
}

pub struct Tenant {
    pub slug: &'static str,
    pub id: TenantId,
    pub token: String,
}

pub struct TestEndpoint {
    pub addr: SocketAddr,
    /// The rate limiter, counting its refusals.
    pub limiter: Arc<CountingLimiter>,
    pub tls_addr: Option<SocketAddr>,
    pub metrics: MqttMetricsRef,
    pub queue: Arc<GatedQueue>,
    pub clock: Arc<FakeClock>,
    pub admin: AdminService,
    pub alpha: Tenant,
    pub beta: Tenant,
    query: QueryService,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

pub async fn spawn_endpoint() -> TestEndpoint {
    spawn_with(Setup::default()).await
}

pub async fn spawn_with(setup: Setup) -> TestEndpoint {
    // Real time, so that the edge agent's timestamps are current, but moved only by tests.
    let clock = Arc::new(FakeClock::new(SystemClock.now()));
    let store = Arc::new(MemoryStore::default());
    let admin = AdminService::new(store.clone(), store.clone(), clock.clone());
    let mut tenants = Vec::new();
    for slug in ["alpha", "beta"] {
        let tenant = admin.create_tenant(slug, None).await.unwrap();
        let token = admin.create_token(slug, "device").await.unwrap().1.expose().to_string();
        tenants.push(Tenant { slug, id: tenant.id, token });
    }
    let inner = Arc::new(MemoryIngestQueue::new(1_000_000));
    let queue = Arc::new(GatedQueue {
        inner: inner.clone(),
        entries: AtomicUsize::new(0),
        open: watch::channel(true).0,
    });
    let limiter = Arc::new(CountingLimiter {
        inner: MemoryRateLimiter::new(clock.clone()),
        denied: AtomicUsize::new(0),
    });
    let ingest = Arc::new(IngestService::new(queue.clone(), limiter.clone(), clock.clone(), setup.limits));
    let auth = Arc::new(AuthService::new(store.clone(), clock.clone()));
    let endpoint = MqttEndpoint::bind(setup.options, auth, ingest).await.unwrap();
    let persist = Arc::new(PersistService::new(
        inner,
        store.clone(),
        store.clone(),
        Arc::new(MemoryLiveBus::new(16)),
        PersistOptions::default(),
    ));
    tokio::spawn(async move { persist.run().await });
    let (stop, stopped) = oneshot::channel::<()>();
    let (addr, tls_addr, metrics) = (endpoint.local_addr(), endpoint.tls_addr(), endpoint.metrics());
    let server = tokio::spawn(endpoint.run(async move {
        let _ = stopped.await;
    }));
    let beta = tenants.pop().unwrap();
    let alpha = tenants.pop().unwrap();
    TestEndpoint {
        addr,
        limiter,
        tls_addr,
        metrics,
        queue,
        clock: clock.clone(),
        admin,
        alpha,
        beta,
        query: QueryService::new(
            store.clone(),
            store.clone(),
            store.clone(),
            store,
            clock,
            microdash_usecases::QueryOptions::default(),
        ),
        stop: Some(stop),
        server: Some(server),
    }
}

impl TestEndpoint {
    /// The endpoint's clock now, in milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.clock.now().as_millis()
    }

    /// Points of `metric` stored for `tenant`: (agent, timestamp ms, value), earliest first.
    pub async fn stored(&self, tenant: &Tenant, metric: &str) -> Vec<Point> {
        stored(&self.query, tenant.id, metric, self.now_ms()).await
    }

    /// Waits until `count` points of `metric` are stored for `tenant`, and returns them.
    pub async fn stored_eventually(&self, tenant: &Tenant, metric: &str, count: usize) -> Vec<Point> {
        stored_eventually(&self.query, tenant.id, metric, count, || self.now_ms(), WITHIN).await
    }

    /// Stops the endpoint and waits for `run` to return.
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(WITHIN, server).await.expect("run() did not return").unwrap();
        }
    }
}

/// A QoS 1 PUBLISH with packet id `pkid`.
pub fn publish_with_id(topic: &str, payload: &str, pkid: u16) -> rumqttc::mqttbytes::v4::Publish {
    let mut p = rumqttc::mqttbytes::v4::Publish::new(topic, QoS::AtLeastOnce, payload);
    p.pkid = pkid;
    p
}

/// Polls `check` until it holds or [`WITHIN`] passed.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WITHIN;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What a rumqttc device observed.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    PubAck(u16),
    Published(u16),
    SubAck(Vec<rumqttc::SubscribeReasonCode>),
    Publish(String),
    PingResp,
    Closed(String),
}

/// A device on rumqttc, its event loop polled in a task that reports what it sees.
pub struct Device {
    pub client: AsyncClient,
    seen: mpsc::UnboundedReceiver<Seen>,
    /// Events [`Device::next`] passed over: later calls see them first, so none is lost.
    skipped: std::collections::VecDeque<Seen>,
}

impl Device {
    /// Connects; `Err` with the connection error when refused.
    pub async fn connect(addr: SocketAddr, user: &str, token: &str) -> Result<Device, ConnectionError> {
        Self::connect_with(addr, user, token, |_| {}).await
    }

    pub async fn connect_with(
        addr: SocketAddr,
        user: &str,
        token: &str,
        tweak: impl FnOnce(&mut MqttOptions),
    ) -> Result<Device, ConnectionError> {
        let mut o = MqttOptions::new(
            format!("dev-{}", uuid::Uuid::new_v4().simple()),
            addr.ip().to_string(),
            addr.port(),
        );
        o.set_credentials(user, token).set_keep_alive(Duration::from_secs(30)).set_inflight(200);
        tweak(&mut o);
        let (client, mut eventloop) = AsyncClient::new(o, 1000);
        match tokio::time::timeout(WITHIN, eventloop.poll()).await.expect("no CONNACK") {
            Ok(Event::Incoming(Packet::ConnAck(ack))) if ack.code == ConnectReturnCode::Success => {}
            Ok(other) => panic!("expected a CONNACK, got {other:?}"),
            Err(e) => return Err(e),
        }
        let (tx, seen) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let s = match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(a))) => Seen::PubAck(a.pkid),
                    Ok(Event::Incoming(Packet::SubAck(a))) => Seen::SubAck(a.return_codes),
                    Ok(Event::Incoming(Packet::Publish(p))) => Seen::Publish(p.topic),
                    Ok(Event::Incoming(Packet::PingResp)) => Seen::PingResp,
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => Seen::Published(pkid),
                    Ok(_) => continue,
                    Err(e) => {
                        let _ = tx.send(Seen::Closed(e.to_string()));
                        return;
                    }
                };
                if tx.send(s).is_err() {
                    return;
                }
            }
        });
        Ok(Device { client, seen, skipped: Default::default() })
    }

    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload).await.unwrap();
    }

    /// The next event matching `wanted` within [`WITHIN`]; the others are kept for later
    /// calls (a PUBACK passed over while waiting for a SUBACK is still seen by `pubacks`).
    pub async fn next(&mut self, wanted: impl Fn(&Seen) -> bool) -> Seen {
        if let Some(i) = self.skipped.iter().position(&wanted) {
            return self.skipped.remove(i).expect("a position in the deque");
        }
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            match tokio::time::timeout_at(deadline, self.seen.recv()).await {
                Ok(Some(s)) if wanted(&s) => return s,
                Ok(Some(s)) => self.skipped.push_back(s),
                Ok(None) => panic!("the device's event loop ended"),
                Err(_) => panic!("nothing wanted seen within {WITHIN:?}"),
            }
        }
    }

    /// Waits for `n` PUBACKs and returns their packet ids in arrival order.
    pub async fn pubacks(&mut self, n: usize) -> Vec<u16> {
        let mut ids = Vec::with_capacity(n);
        while ids.len() < n {
            match self.next(|s| matches!(s, Seen::PubAck(_) | Seen::Closed(_))).await {
                Seen::PubAck(id) => ids.push(id),
                other => panic!("closed after {} of {n} PUBACKs: {other:?}", ids.len()),
            }
        }
        ids
    }

    /// Waits until the server closes the connection; the reason rumqttc gives.
    pub async fn closed(&mut self) -> String {
        match self.next(|s| matches!(s, Seen::Closed(_))).await {
            Seen::Closed(why) => why,
            _ => unreachable!(),
        }
    }

    /// Everything seen and not yet taken by [`Device::next`], oldest first.
    pub fn drain(&mut self) -> Vec<Seen> {
        let mut all: Vec<Seen> = self.skipped.drain(..).collect();
        while let Ok(s) = self.seen.try_recv() {
            all.push(s);
        }
        all
    }

    /// Proves the connection is alive and every packet sent before was handled (packets
    /// are handled in order): a SUBSCRIBE, refused by an ingest-only endpoint, is answered.
    pub async fn round_trip(&mut self) {
        self.client.subscribe("probe/round-trip", QoS::AtMostOnce).await.unwrap();
        match self.next(|s| matches!(s, Seen::SubAck(_) | Seen::Closed(_))).await {
            Seen::SubAck(_) => {}
            other => panic!("the connection is gone: {other:?}"),
        }
    }
}

/// A byte-exact MQTT 3.1.1 client over TCP, for cases rumqttc would smooth over (silence,
/// redelivery with DUP, QoS 2, packet order).
pub struct Raw {
    stream: TcpStream,
    buf: BytesMut,
}

impl Raw {
    pub async fn connect(addr: SocketAddr, connect: Connect) -> (Raw, Packet) {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut raw = Raw { stream, buf: BytesMut::new() };
        raw.send(Packet::Connect(connect)).await;
        let connack = raw.recv().await.expect("no CONNACK");
        (raw, connack)
    }

    pub fn connect_packet(client_id: &str, user: &str, token: &str, keep_alive: u16, clean: bool) -> Connect {
        let mut c = Connect::new(client_id);
        c.keep_alive = keep_alive;
        c.clean_session = clean;
        c.set_login(user, token);
        c
    }

    pub async fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        packet.write(&mut out, usize::MAX).unwrap();
        self.stream.write_all(&out).await.unwrap();
    }

    /// The next packet; `None` when the server closed the connection.
    pub async fn recv(&mut self) -> Option<Packet> {
        tokio::time::timeout(WITHIN, async {
            loop {
                match Packet::read(&mut self.buf, 1 << 20) {
                    Ok(p) => return Some(p),
                    Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
                    Err(e) => panic!("unreadable packet from the server: {e}"),
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
        .expect("nothing from the server in time")
    }
}
