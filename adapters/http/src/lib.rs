//! The HTTP API of microdash: poem + poem-openapi. Handlers parse, call one use case and map
//! its outcome to a status through [`error`]; they hold services, never ports.
//!
//! Not for: business rules (they live in `usecases` and `domain`) or serving the dashboard.
//!
//! # Layout
//! - [`api`]: one `#[OpenApi]` struct per resource (metrics, agents, health, live stream, exports).
//! - `auth`: the two ways to present a token (Bearer, `X-API-Token`).
//! - `error`: the one place where statuses and error codes are chosen.
//! - `listener`: the TCP acceptor, with `TCP_NODELAY` so that live events leave at once.
//! - `payload`: the ingest body, read with a size limit and parsed by the domain's wire format.

mod allow;
pub mod api;
mod auth;
mod error;
mod listener;
mod payload;

use std::sync::Arc;

use microdash_usecases::{
    AuthService, ExportService, HealthService, IngestService, LiveService, QueryService,
};
use poem::endpoint::BoxEndpoint;
use poem::middleware::Tracing;
use poem::{EndpointExt, Route};
use poem_openapi::OpenApiService;

pub use error::ErrorBody;
pub use listener::NoDelayAcceptor;

/// The services the API calls.
#[derive(Clone)]
pub struct ApiServices {
    /// Token → tenant.
    pub auth: Arc<AuthService>,
    /// Accepting samples.
    pub ingest: Arc<IngestService>,
    /// Reading back.
    pub query: Arc<QueryService>,
    /// Readiness of the dependencies.
    pub health: Arc<HealthService>,
    /// Live streams, long-polls and stream tickets.
    pub live: Arc<LiveService>,
    /// CSV exports behind signed links.
    pub export: Arc<ExportService>,
}

/// Limits and settings of the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct HttpOptions {
    /// Largest ingest body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self { max_body_bytes: 5 * 1024 * 1024 }
    }
}

/// The OpenAPI service, for the routes and for exporting the document.
pub fn openapi(
    services: &ApiServices,
) -> OpenApiService<(api::MetricsApi, api::AgentsApi, api::HealthApi, api::LiveApi, api::ExportsApi), ()> {
    let apis = (
        api::MetricsApi::new(services.auth.clone(), services.ingest.clone(), services.query.clone()),
        api::AgentsApi::new(services.auth.clone(), services.query.clone()),
        api::HealthApi::new(services.health.clone()),
        api::LiveApi::new(services.auth.clone(), services.live.clone()),
        api::ExportsApi::new(services.auth.clone(), services.export.clone()),
    );
    OpenApiService::new(apis, "microdash API", env!("CARGO_PKG_VERSION")).description(
        "Push metrics, read them back. Authenticate with `Authorization: Bearer <token>` or \
         `X-API-Token: <token>`; a token only ever reads and writes its own tenant's data. \
         Every error is JSON with a stable `code`.",
    )
}

/// Every route: the API, `/openapi.json`, Swagger UI at `/docs`, and a landing text at `/`.
pub fn routes(services: ApiServices, options: HttpOptions) -> BoxEndpoint<'static> {
    let api = openapi(&services);
    let docs = api.swagger_ui();
    let spec = api.spec_endpoint();
    let allow = allow::AllowTable::from_spec(&api.spec());
    let routes = Route::new()
        .nest("/", api)
        .nest("/docs", docs)
        .at("/openapi.json", spec)
        .data(options)
        .with(Tracing)
        .catch_all_error(error::catch_all);
    allow::with_allow(routes, allow).boxed()
}

/// Only `/healthz` and `/readyz`: what the `worker` and `scheduler` roles serve (with
/// `--probe-addr`) so an orchestrator can watch them too.
pub fn probe_routes(health: Arc<HealthService>) -> BoxEndpoint<'static> {
    let api = OpenApiService::new(api::HealthApi::new(health), "microdash probes", env!("CARGO_PKG_VERSION"));
    let allow = allow::AllowTable::from_spec(&api.spec());
    let routes = Route::new().nest("/", api).with(Tracing).catch_all_error(error::catch_all);
    allow::with_allow(routes, allow).boxed()
}
