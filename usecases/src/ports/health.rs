use std::sync::Arc;

use async_trait::async_trait;

use super::BoxError;

/// Why a dependency is not ready.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// The dependency does not answer, or answers wrongly.
    #[error("{message}")]
    Unavailable {
        /// What is wrong, for the operator (e.g. `MariaDB does not answer`).
        message: String,
        /// The adapter's own error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
}

impl HealthError {
    /// A [`HealthError::Unavailable`] keeping the adapter's error as its source.
    pub fn unavailable(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Unavailable { message: message.into(), source: Some(source.into()) }
    }

    /// A [`HealthError::Unavailable`] with no error to keep (the dependency answered, wrongly).
    pub fn new(message: impl Into<String>) -> Self {
        Self::Unavailable { message: message.into(), source: None }
    }
}

/// A dependency that `/readyz` checks (the store, the queue).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// Short name shown in the readiness report, e.g. `store` or `queue`.
    fn component(&self) -> &'static str;

    /// Checks that the dependency answers.
    ///
    /// # Errors
    /// [`HealthError::Unavailable`] when it does not answer, or answers wrongly. Its message
    /// and causes are shown to the operator in the readiness report; its source MUST be the
    /// adapter's own error when there is one.
    async fn check(&self) -> Result<(), HealthError>;
}

/// Shared [`HealthCheck`].
pub type HealthCheckRef = Arc<dyn HealthCheck>;
