use std::sync::Arc;

use async_trait::async_trait;

/// A dependency that `/readyz` checks (the store, the queue).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// Short name shown in the readiness report, e.g. `store` or `queue`.
    fn component(&self) -> &'static str;

    /// Checks that the dependency answers.
    ///
    /// # Errors
    /// A message saying what is wrong, shown to the operator.
    async fn check(&self) -> Result<(), String>;
}

/// Shared [`HealthCheck`].
pub type HealthCheckRef = Arc<dyn HealthCheck>;
