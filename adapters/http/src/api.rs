//! One `#[OpenApi]` struct per resource.

mod agents;
mod exports;
mod health;
mod live;
mod metrics;

pub use agents::AgentsApi;
pub use exports::ExportsApi;
pub use health::HealthApi;
pub use live::LiveApi;
pub use metrics::MetricsApi;

use poem_openapi::Tags;

/// Sections of the API document.
#[derive(Tags)]
pub(crate) enum ApiTags {
    /// Push samples and read them back.
    Metrics,
    /// The hosts and devices that report.
    Agents,
    /// Liveness and readiness probes.
    Health,
    /// Live samples: Server-Sent Events, stream tickets and the long-poll fallback.
    Live,
    /// CSV exports behind signed links.
    Exports,
}
