//! `microdash api`: the HTTP API (ingest into the queue, queries, live streams, exports) and,
//! with `--mqtt-addr` (always under `serve`), the MQTT device endpoint. Not the probes-only
//! listener of the other roles: that is [`crate::app`]'s.

use std::sync::Arc;
use std::time::Duration;

use microdash_adapter_http::{ApiServices, routes};
use microdash_adapter_mqtt::MqttEndpoint;
use microdash_usecases::{
    AuthService, ExportOptions, ExportService, IngestService, LiveService, QueryOptions, QueryService,
};

use crate::app::{Base, Http, Roles};
use crate::config::ServeArgs;

/// What the api role adds to a process: its bound listener, its live streams and, when it
/// runs one, the MQTT device endpoint.
pub(crate) struct Api {
    pub(crate) http: Http,
    /// Ended when shutdown starts, so that streams do not hold the graceful shutdown open.
    pub(crate) live: Arc<LiveService>,
    pub(crate) mqtt: Option<MqttEndpoint>,
}

/// Runs the api role alone until SIGTERM or Ctrl-C.
///
/// # Errors
/// When start-up fails (options, database, Redis, port) or the server fails.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    super::run_apart(args, Roles::API).await
}

/// Builds the API's services, binds the MQTT device endpoint (when `mqtt_always`, as under
/// `serve`, or with `--mqtt-addr`) and then the HTTP port.
///
/// # Errors
/// A missing or unreadable `--secret`, or a port that cannot be bound.
pub(crate) async fn build(base: &Base<'_>, mqtt_always: bool) -> anyhow::Result<Api> {
    let Base { args, storage, shared, clock, health } = *base;
    let signer = args.signer(storage.is_embedded())?;
    let live = Arc::new(LiveService::new(shared.live.clone(), clock.clone(), signer.clone(), args.live()));
    let services = ApiServices {
        auth: Arc::new(AuthService::new(storage.tokens.clone(), clock.clone())),
        ingest: Arc::new(IngestService::new(
            shared.queue.producer(),
            shared.limiter.clone(),
            clock.clone(),
            args.limits(),
        )),
        query: Arc::new(QueryService::new(
            storage.samples.clone(),
            storage.series.clone(),
            storage.rollups.clone(),
            storage.agents.clone(),
            clock.clone(),
            QueryOptions::default(),
        )),
        health: health.clone(),
        live: live.clone(),
        export: Arc::new(ExportService::new(
            storage.series.clone(),
            storage.rollups.clone(),
            signer,
            clock.clone(),
            QueryOptions::default(),
            ExportOptions::default(),
        )),
    };
    let grace = Duration::from_secs(args.shutdown_grace);
    let mqtt = match args.mqtt.endpoint(mqtt_always, grace) {
        Some(options) => {
            Some(MqttEndpoint::bind(options, services.auth.clone(), services.ingest.clone()).await?)
        }
        None => None,
    };
    let http = Http::bind(args.http_addr, routes(services, args.http()), "--http-addr").await?;
    Ok(Api { http, live, mqtt })
}
