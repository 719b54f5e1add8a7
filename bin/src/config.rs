//! Option groups shared by commands, and their validation. Defaults run the embedded
//! deployment: SQLite under `./data`, HTTP on 127.0.0.1:8080.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use microdash_adapter_http::HttpOptions;
use microdash_adapter_sql::SqliteOptions;
use microdash_usecases::IngestLimits;

/// Where data is stored.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory for the embedded database (created if missing).
    #[arg(long, env = "MICRODASH_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Database URL; default `sqlite://<data-dir>/microdash.db`. Only `sqlite:` URLs are
    /// supported by this build (MariaDB comes with the production adapters).
    #[arg(long, env = "MICRODASH_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// The database URL in force.
    pub fn url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/microdash.db", self.data_dir.display()))
    }

    /// Options for the SQLite adapter.
    ///
    /// # Errors
    /// When the URL is not a SQLite URL.
    pub fn sqlite(&self) -> anyhow::Result<SqliteOptions> {
        let url = self.url();
        if !url.starts_with("sqlite:") {
            anyhow::bail!(
                "--database-url '{url}' is not supported by this build: use a sqlite:// URL \
                 (or none, for SQLite in --data-dir)"
            );
        }
        Ok(SqliteOptions { url, read_connections: 4 })
    }
}

/// Options of `microdash serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address the HTTP API listens on. Port 0 picks a free port (printed at start).
    #[arg(long, env = "MICRODASH_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,

    /// Largest ingest request body, in bytes; larger ones get 413.
    #[arg(long, env = "MICRODASH_MAX_BODY_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Most samples in one ingest request; more get 413.
    #[arg(long, env = "MICRODASH_MAX_ITEMS", default_value_t = 10_000)]
    pub max_items: usize,

    /// Samples the in-process queue holds between the API and the storage writer (each takes
    /// a few hundred bytes of memory). When full, ingest answers 503 with Retry-After.
    #[arg(long, env = "MICRODASH_QUEUE_CAPACITY", default_value_t = 200_000)]
    pub queue_capacity: usize,

    /// Seconds to let in-flight requests finish on shutdown before closing connections.
    #[arg(long, env = "MICRODASH_SHUTDOWN_GRACE", default_value_t = 10)]
    pub shutdown_grace: u64,

    #[command(flatten)]
    pub store: StoreArgs,
}

impl ServeArgs {
    /// Checks the combination of options.
    ///
    /// # Errors
    /// A message saying which option to change.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.max_items == 0 {
            anyhow::bail!("--max-items must be at least 1");
        }
        if self.max_body_bytes < 1024 {
            anyhow::bail!("--max-body-bytes must be at least 1024");
        }
        if self.queue_capacity < self.max_items {
            anyhow::bail!(
                "--queue-capacity ({}) must be at least --max-items ({}), or a full request could never be queued",
                self.queue_capacity,
                self.max_items
            );
        }
        self.store.sqlite().map(drop)
    }

    /// HTTP options.
    pub fn http(&self) -> HttpOptions {
        HttpOptions { max_body_bytes: self.max_body_bytes }
    }

    /// Ingest limits.
    pub fn limits(&self) -> IngestLimits {
        IngestLimits { max_items: self.max_items }
    }
}
