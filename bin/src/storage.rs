//! Opening the configured database (SQLite, the embedded default, or MariaDB) behind the
//! storage ports, for the server roles and the admin commands alike.

use std::sync::Arc;

use anyhow::Context;
use microdash_adapter_sql::{MariaDbStore, SqliteStore};
use microdash_usecases::ports::{
    AgentRegistry, AgentRegistryRef, HealthCheck, HealthCheckRef, RetentionStore, RetentionStoreRef,
    RollupProgress, RollupProgressRef, RollupStore, RollupStoreRef, SampleStore, SampleStoreRef,
    SeriesReader, SeriesReaderRef, TenantRepo, TenantRepoRef, TokenRepo, TokenRepoRef,
};

use crate::config::{Database, StoreArgs};

/// The open database, as the ports the services take.
#[derive(Clone)]
pub struct Storage {
    /// Tenants.
    pub tenants: TenantRepoRef,
    /// API tokens.
    pub tokens: TokenRepoRef,
    /// Raw samples.
    pub samples: SampleStoreRef,
    /// Agents seen.
    pub agents: AgentRegistryRef,
    /// Series and their raw points, for history queries and exports.
    pub series: SeriesReaderRef,
    /// 1m/5m rollups.
    pub rollups: RollupStoreRef,
    /// How far the rollup job got, and the buckets late samples touched.
    pub progress: RollupProgressRef,
    /// Chunked deletes of expired data.
    pub retention: RetentionStoreRef,
    /// Readiness of the database.
    pub health: HealthCheckRef,
    handle: Handle,
}

#[derive(Clone)]
enum Handle {
    Sqlite(Arc<SqliteStore>),
    MariaDb(Arc<MariaDbStore>),
}

impl Storage {
    /// Opens (and migrates) the database `args` names.
    ///
    /// # Errors
    /// When the URL is invalid or the database cannot be opened or migrated, saying which.
    pub async fn open(args: &StoreArgs) -> anyhow::Result<Self> {
        match args.database()? {
            Database::Sqlite(options) => {
                let store = SqliteStore::connect(&options)
                    .await
                    .with_context(|| format!("opening the database {}", options.url))?;
                tracing::info!(url = %options.url, "SQLite database ready.");
                let store = Arc::new(store);
                Ok(Self::over(store.clone(), Handle::Sqlite(store)))
            }
            Database::MariaDb(options) => {
                let shown = format!("{options:?}");
                let store = MariaDbStore::connect(&options).await.with_context(|| {
                    format!(
                        "opening the MariaDB database ({shown}); is it running and does the database exist?"
                    )
                })?;
                tracing::info!(options = %shown, "MariaDB database ready.");
                let store = Arc::new(store);
                Ok(Self::over(store.clone(), Handle::MariaDb(store)))
            }
        }
    }

    fn over<S>(store: Arc<S>, handle: Handle) -> Self
    where
        S: TenantRepo
            + TokenRepo
            + SampleStore
            + AgentRegistry
            + SeriesReader
            + RollupStore
            + RollupProgress
            + RetentionStore
            + HealthCheck
            + 'static,
    {
        Self {
            tenants: store.clone(),
            tokens: store.clone(),
            samples: store.clone(),
            agents: store.clone(),
            series: store.clone(),
            rollups: store.clone(),
            progress: store.clone(),
            retention: store.clone(),
            health: store,
            handle,
        }
    }

    /// Whether this is the embedded SQLite database (one process only).
    pub fn is_embedded(&self) -> bool {
        matches!(self.handle, Handle::Sqlite(_))
    }

    /// Closes the connections, letting SQLite checkpoint its log.
    pub async fn close(&self) {
        match &self.handle {
            Handle::Sqlite(s) => s.close().await,
            Handle::MariaDb(s) => s.close().await,
        }
    }
}
