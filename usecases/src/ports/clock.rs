use std::sync::Arc;

use microdash_domain::Timestamp;

/// Where "now" comes from, so that time-dependent rules are testable without sleeping.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// Shared [`Clock`].
pub type ClockRef = Arc<dyn Clock>;
