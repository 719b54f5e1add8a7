//! The composition root: every adapter and service is built here, and nowhere else.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use microdash_adapter_http::{ApiServices, routes};
use microdash_adapter_memory::{MemoryIngestQueue, MemoryLiveBus, MemoryRateLimiter, SystemClock};
use microdash_adapter_sql::SqliteStore;
use microdash_usecases::ports::{ClockRef, HealthCheckRef};
use microdash_usecases::{
    AdminService, AuthService, HealthService, IngestService, PersistOptions, PersistService, QueryService,
};
use poem::endpoint::BoxEndpoint;
use poem::listener::TcpAcceptor;
use tokio::net::TcpListener;

use crate::config::ServeArgs;

/// Messages a live subscriber may fall behind before it is told to reload.
const LIVE_BUFFER: usize = 1024;

/// A built application, bound to its port, not yet running.
pub struct App {
    listener: TcpListener,
    addr: SocketAddr,
    routes: BoxEndpoint<'static>,
    queue: Arc<MemoryIngestQueue>,
    persist: Arc<PersistService>,
    store: Arc<SqliteStore>,
    admin: AdminService,
    shutdown_grace: Duration,
}

impl App {
    /// Opens the store (migrating it), builds every service and binds the HTTP port.
    ///
    /// # Errors
    /// When the database cannot be opened or the port cannot be bound, saying which.
    pub async fn build(args: &ServeArgs) -> anyhow::Result<Self> {
        args.validate()?;
        let sqlite = args.store.sqlite()?;
        let store = Arc::new(
            SqliteStore::connect(&sqlite)
                .await
                .with_context(|| format!("opening the database {}", sqlite.url))?,
        );
        tracing::info!(url = %sqlite.url, "Database ready.");
        let clock: ClockRef = Arc::new(SystemClock);
        let queue = Arc::new(MemoryIngestQueue::new(args.queue_capacity));
        let live = Arc::new(MemoryLiveBus::new(LIVE_BUFFER));
        let limiter = Arc::new(MemoryRateLimiter::new(clock.clone()));

        let services = ApiServices {
            auth: Arc::new(AuthService::new(store.clone(), clock.clone())),
            ingest: Arc::new(IngestService::new(queue.clone(), limiter, clock.clone(), args.limits())),
            query: Arc::new(QueryService::new(store.clone(), store.clone(), clock.clone())),
            health: Arc::new(HealthService::new(vec![
                store.clone() as HealthCheckRef,
                queue.clone() as HealthCheckRef,
            ])),
        };
        let persist = Arc::new(PersistService::new(
            queue.clone(),
            store.clone(),
            store.clone(),
            live,
            PersistOptions::default(),
        ));
        let admin = AdminService::new(store.clone(), store.clone(), clock);
        let listener = TcpListener::bind(args.http_addr).await.with_context(|| {
            format!(
                "cannot listen on {} (is another program using it? choose another with --http-addr)",
                args.http_addr
            )
        })?;
        let addr = listener.local_addr()?;
        Ok(Self {
            listener,
            addr,
            routes: routes(services, args.http()),
            queue,
            persist,
            store,
            admin,
            shutdown_grace: Duration::from_secs(args.shutdown_grace),
        })
    }

    /// The address the HTTP API is bound to (the real port when 0 was asked for).
    pub fn http_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Tenant and token administration on the same store.
    pub fn admin(&self) -> &AdminService {
        &self.admin
    }

    /// Serves until `shutdown` completes, then stops accepting requests, drains the queue
    /// into the store and closes the store: everything that got a 202 is stored.
    ///
    /// # Errors
    /// When the HTTP server fails.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let persist = self.persist.clone();
        let worker = tokio::spawn(async move { persist.run().await });
        let acceptor = TcpAcceptor::from_tokio(self.listener)?;
        tracing::info!(addr = %self.addr, "Listening.");
        let served = poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(self.routes, shutdown, Some(self.shutdown_grace))
            .await;
        tracing::info!(queued_samples = self.queue.depth(), "HTTP stopped; draining the ingest queue.");
        self.queue.close();
        worker.await.context("the ingest worker panicked")?;
        self.store.close().await;
        tracing::info!("Shut down cleanly; every accepted sample is stored.");
        served.context("HTTP server failed")
    }
}
