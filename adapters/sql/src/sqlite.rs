//! The SQLite store: every storage port on one database file.
//!
//! SQLite allows one writer at a time, so all writes go through a pool of exactly one
//! connection and queue in the pool instead of failing with `SQLITE_BUSY`. In WAL mode readers
//! do not block that writer (nor it them), so reads use a separate pool. This module opens the
//! file, tunes it and applies the migrations; the port implementations are the shared
//! `ports` (see `ports.rs`), compiled here for SQLite. Not for multi-process deployments: a
//! second process writing the same file works (busy timeout) but defeats the single-writer
//! queue and the series-id cache.

#[expect(clippy::duplicate_mod, reason = "compiled once per backend on purpose, see ports.rs")]
#[path = "ports.rs"]
mod ports;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use microdash_usecases::ports::StoreError;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::dialect::Dialect;
use crate::series_cache::SeriesCache;

/// The store `ports` implements the storage ports for.
type Store = SqliteStore;

/// The connection `ports` runs its transactions and reads on.
type Connection = sqlx::SqliteConnection;

/// The SQL `ports` writes where the dialects differ.
const DIALECT: Dialect = Dialect::Sqlite;

/// The schema, embedded at compile time from `migrations/sqlite/`.
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How long a connection waits for a lock held by another connection (or process) before
/// failing: long enough to ride out a WAL checkpoint, short enough to surface a stuck writer.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The writer's page cache, in KiB (SQLite's negative `cache_size`): 32 MiB keeps the interior
/// pages of the samples B-tree and the leaf each series appends to in memory, where the default
/// 2 MiB would re-read them on every batch. Readers keep the default and rely on the OS cache.
const WRITER_CACHE_KIB: i64 = 32 * 1024;

/// WAL pages (4 KiB each) after which a commit copies the WAL back into the database file, with
/// an fsync. Every batch rewrites the last leaf page of each series it touches, so checkpointing
/// at SQLite's default of 1,000 pages copies (and fsyncs) the same pages over and over;
/// 10,000 (≈40 MiB of WAL) made 1,000-sample batches about 1.5 times faster.
const WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// Bytes the WAL file is truncated back to after a checkpoint, so a burst does not leave a
/// large file behind.
const WAL_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// Rows sqlx's SQLite worker thread may hand over before it waits for the reading task. Its
/// default of 50 makes the two threads take turns every few rows of a long result (a chart's
/// 3,600 raw points), each turn a wake-up; 1,024 rows (about 100 KiB) lets the worker run ahead.
const ROW_BUFFER: usize = 1_024;

/// Rows `PRAGMA optimize` may read per index on close, as the SQLite manual recommends, so that
/// closing a large database stays fast.
const OPTIMIZE_ANALYSIS_LIMIT: u32 = 400;

/// How to open the SQLite database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Database URL, e.g. `sqlite://data/microdash.db` (a path relative to the working
    /// directory; the file and its directory are created when missing) or `sqlite::memory:`
    /// (a private in-memory database that lives as long as the store, for tests and demos; one
    /// connection then serves reads and writes).
    pub url: String,
    /// Connections in the read pool, i.e. how many queries can run at once (at least 1). Writes
    /// always use one separate connection, because SQLite has a single writer.
    pub read_connections: u32,
}

impl SqliteOptions {
    /// True for URLs that name an in-memory database, which exists once per connection set
    /// and so must not be split into a read and a write pool.
    fn is_in_memory(&self) -> bool {
        self.url.contains(":memory:") || self.url.contains("mode=memory")
    }

    /// Options shared by the read and the write connections.
    fn connect_options(&self) -> Result<SqliteConnectOptions, StoreError> {
        let options = SqliteConnectOptions::from_str(&self.url)
            .map_err(|e| StoreError::unavailable(format!("invalid SQLite URL '{}'", self.url), e))?;
        Ok(options
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Multi-row upserts need a statement journal; on disk that is a temp file created,
            // written and deleted per transaction, which cost about 15 % of ingest throughput.
            .pragma("temp_store", "MEMORY")
            .row_buffer_size(ROW_BUFFER))
    }
}

/// Every storage port of microdash on one SQLite database. Cheap to clone: clones share the
/// pools and the series-id cache.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Exactly one connection: every write transaction queues here.
    write: SqlitePool,
    /// Query connections (`query_only`); the same pool as `write` for in-memory databases.
    read: SqlitePool,
    /// Series ids already committed, so ingest rarely touches the `series` table.
    series: Arc<SeriesCache>,
}

impl SqliteStore {
    /// Opens (creating when missing) the database, switches it to WAL with
    /// `synchronous=NORMAL`, and applies the pending migrations.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the URL is invalid, the file or its directory cannot be
    /// created or opened, or a migration fails (for instance because the database was written
    /// by a newer version).
    pub async fn connect(opts: &SqliteOptions) -> Result<SqliteStore, StoreError> {
        let base = opts.connect_options()?;
        let in_memory = opts.is_in_memory();
        if !in_memory {
            create_private_file(base.get_filename()).await?;
        }

        let write_options = base
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .pragma("cache_size", (-WRITER_CACHE_KIB).to_string())
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string())
            .pragma("journal_size_limit", WAL_SIZE_LIMIT_BYTES.to_string())
            .optimize_on_close(true, OPTIMIZE_ANALYSIS_LIMIT);
        // The writer lives as long as the store: an in-memory database disappears with its
        // last connection, and a warm page cache is what makes ingest cheap.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(write_options)
            .await
            .map_err(|e| StoreError::unavailable(format!("opening SQLite database '{}'", opts.url), e))?;
        MIGRATOR.run(&write).await.map_err(|e| StoreError::unavailable("applying SQLite migrations", e))?;

        let read = if in_memory {
            write.clone()
        } else {
            // query_only turns a write sent to the wrong pool into an error instead of a
            // second writer contending for the lock.
            SqlitePoolOptions::new()
                .max_connections(opts.read_connections.max(1))
                .connect_with(base.pragma("query_only", "ON"))
                .await
                .map_err(|e| StoreError::unavailable(format!("opening SQLite database '{}'", opts.url), e))?
        };
        tracing::debug!(url = %opts.url, read_connections = opts.read_connections.max(1), in_memory, "SQLite store opened.");
        Ok(SqliteStore { write, read, series: Arc::new(SeriesCache::default()) })
    }

    /// Closes every connection, waiting for queries in flight. Closing the writer last
    /// checkpoints the WAL into the main file. Calls after this fail with
    /// [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Creates the database file and the directory it goes in when missing (so
/// `sqlite://data/microdash.db` works on a fresh checkout), readable by the service user only:
/// the database holds every tenant's samples and token hashes. SQLite gives its `-wal` and
/// `-shm` files the database file's permissions. A file an earlier version created readable by
/// others is made private too.
async fn create_private_file(file: &Path) -> Result<(), StoreError> {
    let file = file.to_owned();
    tokio::task::spawn_blocking(move || private_file(&file))
        .await
        .map_err(|e| StoreError::unavailable("preparing the database file", e))?
}

fn private_file(file: &Path) -> Result<(), StoreError> {
    let fail =
        |what: &str, path: &Path, e| StoreError::unavailable(format!("{what} '{}'", path.display()), e);
    if let Some(dir) = file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| fail("creating directory", dir, e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(file).map_err(|e| fail("creating the database file", file, e))?;
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let mut path = file.as_os_str().to_owned();
        path.push(suffix);
        let path = std::path::PathBuf::from(path);
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| fail("making private", &path, e))?;
            tracing::info!(file = %path.display(), "Made a database file readable by the service user only.");
        }
    }
    Ok(())
}
