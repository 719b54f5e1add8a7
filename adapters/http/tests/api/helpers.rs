use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use microdash_adapter_http::{ApiServices, HttpOptions, routes};
use microdash_adapter_memory::{FakeClock, MemoryIngestQueue, MemoryLiveBus, MemoryRateLimiter, MemoryStore};
use microdash_domain::Timestamp;
use microdash_usecases::ports::{HealthCheckRef, IngestConsumer, IngestQueueRef, TokenRepoRef};
use microdash_usecases::{
    AdminService, AuthService, ExportOptions, ExportService, HealthService, IngestLimits, IngestService,
    LiveOptions, LiveService, PersistOptions, PersistService, QueryOptions, QueryService, Signer,
};
use poem::endpoint::BoxEndpoint;
use poem::test::{TestClient, TestResponse};

/// 2026-11-22T10:00:00Z
pub const NOW: i64 = 1_795_341_600_000;

pub struct TestApi {
    pub client: TestClient<BoxEndpoint<'static>>,
    /// The live service behind the stream endpoints, e.g. to shut it down.
    pub live: Arc<LiveService>,
    pub clock: Arc<FakeClock>,
    pub queue: Arc<MemoryIngestQueue>,
    pub admin: AdminService,
    persist: PersistService,
    /// Token of tenant `alpha`.
    pub alpha: String,
    /// Token of tenant `beta`.
    pub beta: String,
}

pub struct Setup {
    pub queue_capacity: usize,
    pub options: HttpOptions,
    pub limits: IngestLimits,
    pub tokens: Option<TokenRepoRef>,
    /// The queue the ingest service writes to, instead of the memory queue (e.g. one that fails).
    pub ingest_queue: Option<IngestQueueRef>,
    pub live: LiveOptions,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            queue_capacity: 100_000,
            options: HttpOptions::default(),
            limits: IngestLimits::default(),
            tokens: None,
            ingest_queue: None,
            live: LiveOptions::default(),
        }
    }
}

pub async fn spawn_api() -> TestApi {
    spawn_with(Setup::default()).await
}

pub async fn spawn_with(setup: Setup) -> TestApi {
    let clock = Arc::new(FakeClock::new(Timestamp::from_millis(NOW)));
    let store = Arc::new(MemoryStore::default());
    let queue = Arc::new(MemoryIngestQueue::new(setup.queue_capacity));
    let admin = AdminService::new(store.clone(), store.clone(), clock.clone());
    admin.create_tenant("alpha", None).await.unwrap();
    admin.create_tenant("beta", None).await.unwrap();
    let alpha = admin.create_token("alpha", "t").await.unwrap().1.expose().to_string();
    let beta = admin.create_token("beta", "t").await.unwrap().1.expose().to_string();
    let tokens = setup.tokens.unwrap_or_else(|| store.clone());
    let live_bus = Arc::new(MemoryLiveBus::new(1024));
    let live = Arc::new(LiveService::new(
        live_bus.clone(),
        clock.clone(),
        Signer::new(b"test server secret"),
        setup.live,
    ));
    let services = ApiServices {
        auth: Arc::new(AuthService::new(tokens, clock.clone())),
        ingest: Arc::new(IngestService::new(
            setup.ingest_queue.unwrap_or_else(|| queue.clone()),
            Arc::new(MemoryRateLimiter::new(clock.clone())),
            clock.clone(),
            setup.limits,
        )),
        query: Arc::new(QueryService::new(
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            clock.clone(),
            QueryOptions::default(),
        )),
        health: Arc::new(HealthService::new(vec![
            store.clone() as HealthCheckRef,
            queue.clone() as HealthCheckRef,
        ])),
        live: live.clone(),
        export: Arc::new(ExportService::new(
            store.clone(),
            store.clone(),
            Signer::new(b"test server secret"),
            clock.clone(),
            QueryOptions::default(),
            ExportOptions::default(),
        )),
    };
    let persist =
        PersistService::new(queue.clone(), store.clone(), store.clone(), live_bus, PersistOptions::default());
    let client = TestClient::new(routes(services, setup.options));
    TestApi { client, live, clock, queue, admin, persist, alpha, beta }
}

impl TestApi {
    pub async fn post_json(&self, token: &str, body: &str) -> TestResponse {
        self.client
            .post("/api/v1/metrics")
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
    }

    /// Runs the worker over everything queued so far.
    pub async fn flush(&self) {
        while self.queue.depth() > 0 {
            let d = tokio::time::timeout(Duration::from_secs(5), self.queue.next(100_000)).await.unwrap();
            self.persist.persist(d.unwrap().unwrap()).await;
        }
        self.persist.flush_sightings().await;
    }

    pub async fn get(&self, token: &str, path: &str) -> TestResponse {
        self.client.get(path).header("X-API-Token", token).send().await
    }

    pub async fn get_json(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let resp = self.get(token, path).await;
        let status = resp.0.status().as_u16();
        (status, resp.json().await.value().deserialize())
    }
}

pub async fn json_of(resp: TestResponse) -> (u16, serde_json::Value) {
    let status = resp.0.status().as_u16();
    (status, resp.json().await.value().deserialize())
}

/// The log lines written on this thread (so by this test) while it is alive, without colours
/// or timestamps.
pub struct Logs {
    buffer: Buffer,
    _guard: tracing::subscriber::DefaultGuard,
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    pub fn capture() -> Self {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .without_time()
            .finish();
        Self { buffer, _guard: tracing::subscriber::set_default(subscriber) }
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.buffer.0.lock().unwrap().clone()).unwrap()
    }
}
