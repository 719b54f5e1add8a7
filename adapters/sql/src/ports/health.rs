//! [`HealthCheck`]: can a query connection answer?

use async_trait::async_trait;
use microdash_usecases::ports::{HealthCheck, HealthError};

use super::{DIALECT, Store};

#[async_trait]
impl HealthCheck for Store {
    fn component(&self) -> &'static str {
        DIALECT.component()
    }

    async fn check(&self) -> Result<(), HealthError> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map(drop)
            .map_err(|e| HealthError::unavailable(format!("{} does not answer", DIALECT.name()), e))
    }
}
