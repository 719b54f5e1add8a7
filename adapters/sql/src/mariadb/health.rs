//! [`HealthCheck`] for the MariaDB store: can a pooled connection answer?

use async_trait::async_trait;
use microdash_usecases::ports::{HealthCheck, HealthError};

use super::MariaDbStore;

#[async_trait]
impl HealthCheck for MariaDbStore {
    fn component(&self) -> &'static str {
        "mariadb"
    }

    async fn check(&self) -> Result<(), HealthError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|e| HealthError::unavailable("MariaDB does not answer", e))
    }
}
