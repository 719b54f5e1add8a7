//! One `#[OpenApi]` struct per resource.

mod agents;
mod health;
mod metrics;

pub use agents::AgentsApi;
pub use health::HealthApi;
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
}
