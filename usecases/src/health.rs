//! Readiness: are the dependencies this process needs answering?

use std::time::Duration;

use crate::error_chain::ErrorChain;
use crate::ports::HealthCheckRef;

/// How long one dependency may take to answer before it counts as down: a readiness probe
/// must answer quickly even when a dependency hangs.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The state of one dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentStatus {
    /// Its name (`store`, `queue`).
    pub component: &'static str,
    /// What is wrong, when it is not ready: the check's message and its causes.
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
                Ok(Err(e)) => Some(ErrorChain(&e).to_string()),
                Err(_) => Some(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
            };
            ComponentStatus { component: c.component(), error }
        });
        futures::future::join_all(checks).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ports::{HealthError, MockHealthCheck};

    #[tokio::test]
    async fn a_failed_check_is_reported_with_its_message_and_the_cause_under_it() {
        let mut redis = MockHealthCheck::new();
        redis.expect_component().return_const("redis");
        redis.expect_check().returning(|| {
            let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
            Err(HealthError::unavailable("Redis", refused))
        });
        let mut store = MockHealthCheck::new();
        store.expect_component().return_const("store");
        store.expect_check().returning(|| Ok(()));

        let report = HealthService::new(vec![Arc::new(redis), Arc::new(store)]).readiness().await;

        assert_eq!(
            report,
            vec![
                ComponentStatus { component: "redis", error: Some("Redis: connection refused".into()) },
                ComponentStatus { component: "store", error: None },
            ]
        );
    }
}
