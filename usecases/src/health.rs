//! Readiness: are the dependencies this process needs answering?

use std::time::Duration;

use crate::ports::HealthCheckRef;

/// How long one dependency may take to answer before it counts as down: a readiness probe
/// must answer quickly even when a dependency hangs.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The state of one dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentStatus {
    /// Its name (`store`, `queue`).
    pub component: &'static str,
    /// What is wrong, when it is not ready.
    pub error: Option<String>,
}

/// Checks every dependency.
pub struct HealthService {
    checks: Vec<HealthCheckRef>,
}

impl HealthService {
    /// Builds the service over the given checks.
    pub fn new(checks: Vec<HealthCheckRef>) -> Self {
        Self { checks }
    }

    /// Checks all dependencies concurrently.
    pub async fn readiness(&self) -> Vec<ComponentStatus> {
        let checks = self.checks.iter().map(|c| async move {
            let error = match tokio::time::timeout(CHECK_TIMEOUT, c.check()).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
            };
            ComponentStatus { component: c.component(), error }
        });
        futures::future::join_all(checks).await
    }
}
