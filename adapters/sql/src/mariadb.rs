//! The MariaDB store: every storage port on one MariaDB (10.11+) database, for deployments with
//! several API and worker processes. This module opens the pool and applies the migrations;
//! the port implementations are the shared `ports` (see `ports.rs`), compiled here for MariaDB.
//!
//! Every connection runs at READ COMMITTED: an ingest transaction must see series and dedupe
//! ids another writer committed after it started, and gap locks (REPEATABLE READ) would only
//! add deadlocks between concurrent batches. Not for creating the database itself: the URL must
//! name an existing database the user may create tables in.

#[expect(clippy::duplicate_mod, reason = "compiled once per backend on purpose, see ports.rs")]
#[path = "ports.rs"]
mod ports;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use microdash_usecases::ports::StoreError;
use sqlx::Executor;
use sqlx::migrate::Migrator;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};

use crate::dialect::Dialect;
use crate::series_cache::SeriesCache;

/// The store `ports` implements the storage ports for.
type Store = MariaDbStore;

/// The connection `ports` runs its transactions and reads on.
type Connection = sqlx::MySqlConnection;

/// The SQL `ports` writes where the dialects differ.
const DIALECT: Dialect = Dialect::MariaDb;

/// The schema, embedded at compile time from `migrations/mysql/`.
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/mysql");

/// How long a caller waits for a free connection before the call fails as unavailable: long
/// enough to ride out a burst of batches, short enough that a stuck server surfaces.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach the MariaDB database.
#[derive(Clone, PartialEq, Eq)]
pub struct MariaDbOptions {
    /// Database URL, `mysql://user:password@host:port/database`. The database must exist.
    pub url: String,
    /// Most connections in the pool (at least 1), i.e. how many calls run at once; ingest
    /// transactions and queries share it.
    pub max_connections: u32,
}

impl std::fmt::Debug for MariaDbOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("MariaDbOptions")
            .field("url", &redacted(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl MariaDbOptions {
    fn connect_options(&self) -> Result<MySqlConnectOptions, StoreError> {
        MySqlConnectOptions::from_str(&self.url)
            .map_err(|e| StoreError::unavailable(format!("invalid MariaDB URL '{}'", redacted(&self.url)), e))
    }
}

/// Every storage port of microdash on one MariaDB database. Cheap to clone: clones share the
/// pool and the series-id cache.
#[derive(Debug, Clone)]
pub struct MariaDbStore {
    /// Connections at READ COMMITTED, shared by reads and writes: the same pool as `write`.
    /// MariaDB has no single writer to queue for, so `ports` may use either.
    read: MySqlPool,
    /// The same pool as `read`.
    write: MySqlPool,
    /// Series ids already committed, so ingest rarely touches the `series` table.
    series: Arc<SeriesCache>,
}

impl MariaDbStore {
    /// Connects to the database and applies the pending migrations (a no-op when they were
    /// applied before, by this or another process).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the URL is invalid, the server cannot be reached or
    /// refuses the login, or a migration fails (for instance because the database was written
    /// by a newer version).
    pub async fn connect(opts: &MariaDbOptions) -> Result<MariaDbStore, StoreError> {
        let options = opts.connect_options()?;
        let pool = MySqlPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED").await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| {
                StoreError::unavailable(format!("connecting to MariaDB at '{}'", redacted(&opts.url)), e)
            })?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError::unavailable("applying MariaDB migrations", e))?;
        tracing::debug!(url = %redacted(&opts.url), max_connections = opts.max_connections.max(1), "MariaDB store opened.");
        Ok(MariaDbStore { read: pool.clone(), write: pool, series: Arc::new(SeriesCache::default()) })
    }

    /// Closes every connection, waiting for calls in flight. Calls after this fail with
    /// [`StoreError::Unavailable`].
    pub async fn close(&self) {
        // `read` is the same pool.
        self.write.close().await;
    }
}

/// The URL without its password, for logs and errors.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user_info = &url[scheme + 3..at];
            match user_info.find(':') {
                Some(colon) => {
                    format!("{}{}:[redacted]{}", &url[..scheme + 3], &user_info[..colon], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs_or_debug_output() {
        assert_eq!(
            redacted("mysql://md:s3cret@db:3306/microdash"),
            "mysql://md:[redacted]@db:3306/microdash"
        );
        assert_eq!(redacted("mysql://root@127.0.0.1:3306/x"), "mysql://root@127.0.0.1:3306/x");
        let opts = MariaDbOptions { url: "mysql://u:pw@h/d".into(), max_connections: 4 };
        assert!(!format!("{opts:?}").contains("pw"));
    }
}
