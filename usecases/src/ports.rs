//! Ports: what the use cases need from the outside world, one small trait per role.
//!
//! Every storage method that touches tenant data takes a [`TenantId`], which the use cases
//! only get from authentication or an admin command.

mod agent_registry;
mod clock;
#[cfg(feature = "contract-tests")]
pub mod contract;
mod health;
mod ingest_queue;
mod leader_lock;
mod live_bus;
mod rate_limiter;
mod retention_store;
mod rollup_progress;
mod rollup_store;
mod sample_store;
mod series_reader;
mod tenant_repo;
mod token_repo;

pub use agent_registry::*;
pub use clock::*;
pub use health::*;
pub use ingest_queue::*;
pub use leader_lock::*;
pub use live_bus::*;
pub use rate_limiter::*;
pub use retention_store::*;
pub use rollup_progress::*;
pub use rollup_store::*;
pub use sample_store::*;
pub use series_reader::*;
pub use tenant_repo::*;
pub use token_repo::*;

/// The cause an adapter keeps in a port error's `Unavailable` variant: the technology's own
/// error (a `redis::RedisError`, an `io::Error`), so that the log line at the boundary can
/// name it (see [`ErrorChain`](crate::ErrorChain)). A `&str` or `String` converts into it
/// when there is no error value to keep.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Errors of every storage port.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached or failed; callers MAY retry.
    #[error("storage unavailable: {message}")]
    Unavailable {
        /// What failed, for the log.
        message: String,
        /// The adapter's own error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The backend refuses this data for good (a constraint it breaks); retrying the same
    /// call cannot succeed, so callers must not retry it.
    #[error("storage refused the data: {message}")]
    Rejected {
        /// What was refused, for the log.
        message: String,
        /// The adapter's own error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A uniqueness rule was broken (e.g. a tenant slug that exists).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The referenced row does not exist.
    #[error("not found: {0}")]
    NotFound(String),
}

impl StoreError {
    /// An [`StoreError::Unavailable`] wrapping an adapter error.
    pub fn unavailable(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Unavailable { message: message.into(), source: Some(Box::new(source)) }
    }
}
