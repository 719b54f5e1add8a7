//! [`HealthCheck`] for the SQLite store: can a query connection answer?

use async_trait::async_trait;
use microdash_usecases::ports::{HealthCheck, HealthError};

use super::SqliteStore;

#[async_trait]
impl HealthCheck for SqliteStore {
    fn component(&self) -> &'static str {
        "sqlite"
    }

    async fn check(&self) -> Result<(), HealthError> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map(drop)
            .map_err(|e| HealthError::unavailable("SQLite does not answer", e))
    }
}
