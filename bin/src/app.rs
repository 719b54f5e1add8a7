//! The composition root: every adapter and service is built here and in the role builders of
//! [`crate::roles`], and nowhere else.
//!
//! Adapters are chosen from the URLs: SQLite or MariaDB from `--database-url`; with
//! `--redis-url`, the queue, live bus, rate limiter and leader lock live in Redis, otherwise in
//! process ([`shared`]). A process runs some [`Roles`]: `serve` all of them, `api`/`worker`/
//! `scheduler`/`bridge` one. This module holds what the roles share (the database, the shared
//! infrastructure, the HTTP listener) and the run loop with its shutdown order; what a role
//! builds for itself is not here.

mod shared;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use microdash_adapter_http::{NoDelayAcceptor, probe_routes};
use microdash_adapter_memory::SystemClock;
use microdash_adapter_mqtt::{Bridge, MqttEndpoint};
use microdash_usecases::ports::ClockRef;
use microdash_usecases::{AdminService, HealthService, LiveService, PersistService, SchedulerService};
use poem::endpoint::BoxEndpoint;
use tokio::net::TcpListener;
use tokio::sync::watch;

use self::shared::Queue;
pub(crate) use self::shared::Shared;
use crate::config::{ServeArgs, process_name};
use crate::roles::{api, bridge, scheduler, worker};
use crate::storage::Storage;

/// The roles one process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// The HTTP API: ingest (into the queue), queries, live streams.
    pub api: bool,
    /// The ingest worker: from the queue into the database and the live bus.
    pub worker: bool,
    /// Periodic jobs, on the one process holding the leader lock.
    pub scheduler: bool,
    /// The bridge from an external MQTT broker into the queue (`--mqtt-url`).
    pub bridge: bool,
}

impl Roles {
    /// Everything in one process (`microdash serve`).
    pub const ALL: Self = Self { api: true, worker: true, scheduler: true, bridge: false };
    /// `microdash api`.
    pub const API: Self = Self { api: true, worker: false, scheduler: false, bridge: false };
    /// `microdash worker`.
    pub const WORKER: Self = Self { api: false, worker: true, scheduler: false, bridge: false };
    /// `microdash scheduler`.
    pub const SCHEDULER: Self = Self { api: false, worker: false, scheduler: true, bridge: false };
    /// `microdash bridge`.
    pub const BRIDGE: Self = Self { api: false, worker: false, scheduler: false, bridge: true };

    fn names(self) -> String {
        let mut names = Vec::new();
        let all = [
            (self.api, "api"),
            (self.worker, "worker"),
            (self.scheduler, "scheduler"),
            (self.bridge, "bridge"),
        ];
        for (on, name) in all {
            if on {
                names.push(name);
            }
        }
        names.join("+")
    }
}

/// What every role builder builds from: the options, and what [`App::build_roles`] opened
/// for all the roles of the process.
pub(crate) struct Base<'a> {
    pub(crate) args: &'a ServeArgs,
    pub(crate) storage: &'a Storage,
    pub(crate) shared: &'a Shared,
    pub(crate) clock: &'a ClockRef,
    /// Readiness of the database and the queue, for `/readyz`.
    pub(crate) health: &'a Arc<HealthService>,
}

/// An HTTP listener and what it serves.
pub(crate) struct Http {
    listener: TcpListener,
    addr: SocketAddr,
    routes: BoxEndpoint<'static>,
}

impl Http {
    /// Binds `addr` for `routes`; the error names `flag`, the option that chooses the address.
    ///
    /// # Errors
    /// When the address cannot be bound (usually: another program has the port).
    pub(crate) async fn bind(
        addr: SocketAddr,
        routes: BoxEndpoint<'static>,
        flag: &str,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} (is another program using it? choose another with {flag})")
        })?;
        Ok(Self { addr: listener.local_addr()?, listener, routes })
    }
}

/// A built application, bound to its port, not yet running.
pub struct App {
    roles: Roles,
    http: Option<Http>,
    queue: Queue,
    persist: Option<Arc<PersistService>>,
    scheduler: Option<Arc<SchedulerService>>,
    storage: Storage,
    admin: AdminService,
    /// The api role's live streams, ended when shutdown starts so that they do not hold the
    /// graceful shutdown open until its grace period runs out.
    live: Option<Arc<LiveService>>,
    /// The MQTT device endpoint (`serve`, and `api` with `--mqtt-addr`).
    mqtt: Option<MqttEndpoint>,
    /// The bridge from an external broker (`bridge`).
    bridge: Option<Bridge>,
    shutdown_grace: Duration,
}

impl App {
    /// Every role in one process, as `microdash serve` runs.
    ///
    /// # Errors
    /// See [`App::build_roles`].
    pub async fn build(args: &ServeArgs) -> anyhow::Result<Self> {
        Self::build_roles(args, Roles::ALL).await
    }

    /// Opens the database (migrating it), connects Redis when configured, builds the services
    /// of `roles` (each role's in its module of [`crate::roles`]) and binds the HTTP port.
    ///
    /// # Errors
    /// When the options do not fit together, or a dependency cannot be reached, or the port
    /// cannot be bound, saying which and what to do.
    pub async fn build_roles(args: &ServeArgs, roles: Roles) -> anyhow::Result<Self> {
        args.validate()?;
        if roles != Roles::ALL && args.redis.redis_url.is_none() {
            anyhow::bail!(
                "the {} role runs apart from the others, so they need a queue they share: give \
                 --redis-url (or run `microdash serve` for everything in one process)",
                roles.names()
            );
        }
        let redis = args.redis.options(&process_name())?;
        let storage = Storage::open(&args.store).await?;
        if roles != Roles::ALL && storage.is_embedded() {
            tracing::warn!(
                "The {} role is on SQLite, which only one process may write: use MariaDB \
                 (--database-url mysql://...) to run the roles apart.",
                roles.names()
            );
        }
        let clock: ClockRef = Arc::new(SystemClock);
        let shared = Shared::connect(redis, args, &clock).await?;
        let health = Arc::new(HealthService::new(vec![storage.health.clone(), shared.queue.health()]));
        let base = Base { args, storage: &storage, shared: &shared, clock: &clock, health: &health };

        let (http, live, mqtt) = if roles.api {
            let api = api::build(&base, roles == Roles::ALL).await?;
            (Some(api.http), Some(api.live), api.mqtt)
        } else if let Some(addr) = args.probe_addr {
            (Some(Http::bind(addr, probe_routes(health.clone()), "--probe-addr").await?), None, None)
        } else {
            (None, None, None)
        };
        let bridge = if roles.bridge { Some(bridge::build(&base).await?) } else { None };
        let persist = roles.worker.then(|| worker::build(&base));
        let scheduler = roles.scheduler.then(|| scheduler::build(&base));
        let admin = AdminService::new(storage.tenants.clone(), storage.tokens.clone(), clock);
        Ok(Self {
            roles,
            http,
            queue: shared.queue,
            persist,
            scheduler,
            storage,
            admin,
            live,
            mqtt,
            bridge,
            shutdown_grace: Duration::from_secs(args.shutdown_grace),
        })
    }

    /// The address the MQTT device endpoint is bound to, if this process runs one (the real
    /// port when the default was busy or 0 was asked for).
    pub fn mqtt_addr(&self) -> Option<SocketAddr> {
        self.mqtt.as_ref().map(MqttEndpoint::local_addr)
    }

    /// The address of the MQTT-over-TLS listener, when there is one.
    pub fn mqtts_addr(&self) -> Option<SocketAddr> {
        self.mqtt.as_ref().and_then(MqttEndpoint::tls_addr)
    }

    /// The address the HTTP API (or, for `worker`/`scheduler`, the probes) is bound to; the
    /// real port when 0 was asked for.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|h| h.addr)
    }

    /// Tenant and token administration on the same store.
    pub fn admin(&self) -> &AdminService {
        &self.admin
    }

    /// Runs until `shutdown` completes, then stops accepting requests, lets the worker store
    /// what it holds (in process: the whole queue) and closes the database: everything that
    /// got a 202 is stored, or still in Redis for the next worker.
    ///
    /// # Errors
    /// When the HTTP server fails, or a role panics.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let roles = self.roles.names();
        tracing::info!(roles, "Starting.");
        let worker = self.persist.clone().map(|p| tokio::spawn(async move { p.run().await }));
        let (stop_scheduler, scheduler_stopped) = watch::channel(false);
        let scheduler = self.scheduler.clone().map(|s| {
            let mut stopped = scheduler_stopped;
            tokio::spawn(async move {
                s.run(async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .await;
            })
        });
        let live = self.live.clone();
        let shutdown = async move {
            shutdown.await;
            if let Some(live) = live {
                live.shutdown();
            }
        };
        // MQTT stops with HTTP, and both hand in what they accepted before the queue closes.
        let (stop_mqtt, mqtt_stopped) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let endpoint = self.mqtt.map(|e| tokio::spawn(e.run(stopped(mqtt_stopped.clone()))));
        let bridge = self.bridge.map(|b| tokio::spawn(b.run(stopped(mqtt_stopped))));
        let shutdown = async move {
            shutdown.await;
            let _ = stop_mqtt.send(true);
        };
        let served = match self.http {
            Some(http) => {
                tracing::info!(addr = %http.addr, "Listening.");
                let acceptor = NoDelayAcceptor::from_tokio(http.listener)?;
                poem::Server::new_with_acceptor(acceptor)
                    .run_with_graceful_shutdown(http.routes, shutdown, Some(self.shutdown_grace))
                    .await
                    .context("HTTP server failed")
            }
            None => {
                shutdown.await;
                Ok(())
            }
        };
        tracing::info!("Shutting down.");
        for mqtt in [endpoint, bridge].into_iter().flatten() {
            mqtt.await.context("the MQTT endpoint or bridge panicked")?;
        }
        self.queue.close();
        let _ = stop_scheduler.send(true);
        if let Some(scheduler) = scheduler {
            scheduler.await.context("the scheduler panicked")?;
        }
        if let Some(worker) = worker {
            worker.await.context("the ingest worker panicked")?;
        }
        self.storage.close().await;
        tracing::info!(roles, "Shut down cleanly; every accepted sample is stored or still queued.");
        served
    }
}
