//! Option groups shared by commands, and their validation. Defaults run the embedded
//! deployment: SQLite under `./data`, HTTP on 127.0.0.1:8080, queue and live bus in process.
//! `--database-url mysql://...` and `--redis-url redis://...` select the production adapters.

mod mqtt;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use microdash_adapter_http::HttpOptions;
use microdash_adapter_redis::RedisOptions;
use microdash_adapter_sql::{MariaDbOptions, SqliteOptions};
use microdash_usecases::{IngestLimits, LiveOptions, Signer};

pub use self::mqtt::{DEFAULT_MQTT_ADDR, MqttArgs};

/// Where data is stored.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory for the embedded database and the ingest journal (`queue/`), created if
    /// missing.
    #[arg(long, env = "MICRODASH_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Database URL. Default: `sqlite://<data-dir>/microdash.db`, the embedded database. For
    /// MariaDB/MySQL: `mysql://user:password@host:3306/database` (the database must exist;
    /// the schema is created at start). MariaDB needs `--redis-url` too.
    #[arg(long, env = "MICRODASH_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Most connections to MariaDB per process (writes of the worker and queries of the api
    /// share them). Ignored for SQLite.
    #[arg(long, env = "MICRODASH_DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,
}

/// The database chosen by the URL.
#[derive(Debug, Clone)]
pub enum Database {
    /// The embedded default.
    Sqlite(SqliteOptions),
    /// The production store.
    MariaDb(MariaDbOptions),
}

impl StoreArgs {
    /// The database URL in force.
    pub fn url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/microdash.db", self.data_dir.display()))
    }

    /// The database the URL names.
    ///
    /// # Errors
    /// When the URL's scheme is not one microdash stores in.
    pub fn database(&self) -> anyhow::Result<Database> {
        let url = self.url();
        if url.starts_with("sqlite:") {
            return Ok(Database::Sqlite(SqliteOptions { url, read_connections: 4 }));
        }
        // sqlx speaks the MySQL protocol, which MariaDB serves; accept either name.
        let mysql =
            if let Some(rest) = url.strip_prefix("mariadb://") { format!("mysql://{rest}") } else { url };
        if mysql.starts_with("mysql://") {
            if self.database_max_connections == 0 {
                anyhow::bail!("--database-max-connections must be at least 1");
            }
            return Ok(Database::MariaDb(MariaDbOptions {
                url: mysql,
                max_connections: self.database_max_connections,
            }));
        }
        anyhow::bail!(
            "--database-url must start with sqlite:// (embedded) or mysql:// (MariaDB); \
             leave it out for SQLite in --data-dir"
        )
    }
}

/// Where the shared queue, live bus, rate limits and scheduler lock live when several
/// processes work together.
#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// Redis URL, e.g. `redis://127.0.0.1:6379/0`. With it, the ingest queue (Streams), live
    /// fan-out (pub/sub), per-token quotas and the scheduler's leader lock live in Redis and
    /// are shared by every process. Required with MariaDB and by the `api`, `worker` and
    /// `scheduler` roles; without it, `serve` keeps them in process.
    #[arg(long, env = "MICRODASH_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key and channel, so several deployments can share one Redis.
    #[arg(long, env = "MICRODASH_REDIS_PREFIX", default_value = "microdash:")]
    pub redis_prefix: String,

    /// Most accepted requests the Redis ingest stream holds, queued or being stored. Past it,
    /// ingest answers 503 with Retry-After rather than let Redis run out of memory; nothing is
    /// ever trimmed. An entry holds its samples as JSON, roughly 60 to 100
    /// bytes each (more with tags), so a 1,000-sample request is 60 to 100 KB.
    #[arg(long, env = "MICRODASH_QUEUE_MAX_ENTRIES", default_value_t = 10_000)]
    pub queue_max_entries: u64,

    /// Seconds a batch may sit with a worker unacknowledged before another worker takes it
    /// over: how long a crashed worker's batches wait. Workers that are retrying a database
    /// outage keep their batches, however long it lasts.
    #[arg(long, env = "MICRODASH_QUEUE_CLAIM_IDLE", default_value_t = 30)]
    pub queue_claim_idle: u64,

    /// Times a batch is handed out without being stored (its workers crashed on it) before it
    /// goes to the dead-letter stream (`microdash queue dead-letters`). A batch the database
    /// refuses goes there at once.
    #[arg(long, env = "MICRODASH_QUEUE_MAX_DELIVERIES", default_value_t = 10)]
    pub queue_max_deliveries: u32,
}

impl RedisArgs {
    /// Options of the Redis adapters, when a URL is given; `name` identifies this process in
    /// the consumer group and the leader lock.
    ///
    /// # Errors
    /// When a value is out of range.
    pub fn options(&self, name: &str) -> anyhow::Result<Option<RedisOptions>> {
        let Some(url) = &self.redis_url else { return Ok(None) };
        if !url.starts_with("redis://") && !url.starts_with("unix://") {
            anyhow::bail!("--redis-url must start with redis:// (e.g. redis://127.0.0.1:6379/0)");
        }
        if self.queue_max_entries == 0 || self.queue_claim_idle == 0 || self.queue_max_deliveries == 0 {
            anyhow::bail!(
                "--queue-max-entries, --queue-claim-idle and --queue-max-deliveries must be at least 1"
            );
        }
        Ok(Some(RedisOptions {
            url: url.clone(),
            key_prefix: self.redis_prefix.clone(),
            stream_max_len: self.queue_max_entries,
            consumer_name: name.to_string(),
            claim_idle: std::time::Duration::from_secs(self.queue_claim_idle),
            max_deliveries: self.queue_max_deliveries,
            ..RedisOptions::default()
        }))
    }
}

/// This process's name in the consumer group and the leader lock: host and pid, unique on a
/// host and readable in `microdash queue stats`.
pub fn process_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "microdash".into());
    format!("{host}-{}", std::process::id())
}

/// Options of `microdash serve` and of the separate roles (`api`, `worker`, `scheduler`),
/// each of which uses the part it needs.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address the HTTP API listens on (`serve`, `api`). Port 0 picks a free port (printed at start).
    #[arg(long, env = "MICRODASH_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,

    /// Secret that signs CSV export links and live-stream tickets (at least 32 characters).
    /// Every api node of a deployment needs the same one, so a link made by one works on all;
    /// required with MariaDB. Default on SQLite: a random secret kept in `<data-dir>/secret`.
    #[arg(long, env = "MICRODASH_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// `worker` and `scheduler` only: also serve `/healthz` and `/readyz` on this address, for
    /// an orchestrator's health checks. Off by default.
    #[arg(long, env = "MICRODASH_PROBE_ADDR")]
    pub probe_addr: Option<SocketAddr>,

    /// Largest ingest request body, in bytes; larger ones get 413.
    #[arg(long, env = "MICRODASH_MAX_BODY_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Most samples in one ingest request; more get 413.
    #[arg(long, env = "MICRODASH_MAX_ITEMS", default_value_t = 10_000)]
    pub max_items: usize,

    /// Samples the in-process queue holds between the API and the storage writer (each takes
    /// a few hundred bytes of memory). When full, ingest answers 503 with Retry-After. Every
    /// accepted batch is first written and synced to the journal in `<data-dir>/queue`: a 202
    /// (or an MQTT PUBACK) means the batch is on disk and will be stored, even after a crash or
    /// `kill -9` (it is stored at the next start). A disk that cannot take it gets 503, never a
    /// 202. Not used with `--redis-url` (see `--queue-max-entries`), where a 202 means Redis has
    /// the batch.
    #[arg(long, env = "MICRODASH_QUEUE_CAPACITY", default_value_t = 200_000)]
    pub queue_capacity: usize,

    /// Seconds to let in-flight requests finish on shutdown before closing connections.
    #[arg(long, env = "MICRODASH_SHUTDOWN_GRACE", default_value_t = 10)]
    pub shutdown_grace: u64,

    /// Most live streams (SSE and waiting long-polls) of one tenant on this api node; more
    /// get 429.
    #[arg(long, env = "MICRODASH_LIVE_MAX_STREAMS_PER_TENANT", default_value_t = 1_000)]
    pub live_max_streams_per_tenant: usize,

    /// Most live streams on this api node in all; more get 429. Each open stream costs about
    /// 35 KiB of memory and one file descriptor.
    #[arg(long, env = "MICRODASH_LIVE_MAX_STREAMS", default_value_t = 10_000)]
    pub live_max_streams: usize,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub redis: RedisArgs,

    #[command(flatten)]
    pub mqtt: MqttArgs,
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
        if self.live_max_streams_per_tenant == 0 || self.live_max_streams == 0 {
            anyhow::bail!("--live-max-streams-per-tenant and --live-max-streams must be at least 1");
        }
        self.mqtt.validate()?;
        let database = self.store.database()?;
        self.redis.options("check")?;
        if matches!(database, Database::MariaDb(_)) && self.redis.redis_url.is_none() {
            anyhow::bail!(
                "a MariaDB database needs --redis-url too: the production deployment keeps its queue, \
                 live fan-out and quotas in Redis, shared by every process (for one process on \
                 SQLite, leave --database-url out)"
            );
        }
        Ok(())
    }

    /// HTTP options.
    pub fn http(&self) -> HttpOptions {
        HttpOptions { max_body_bytes: self.max_body_bytes }
    }

    /// Ingest limits.
    pub fn limits(&self) -> IngestLimits {
        IngestLimits { max_items: self.max_items }
    }

    /// The signer of export links and stream tickets: `--secret`, or on the embedded database
    /// a random one created once in the data directory (so links survive a restart).
    ///
    /// # Errors
    /// A secret that is too short, none with MariaDB, or an unreadable/unwritable secret file.
    pub fn signer(&self, embedded: bool) -> anyhow::Result<Signer> {
        if let Some(secret) = &self.secret {
            if secret.len() < 32 {
                anyhow::bail!("--secret must be at least 32 characters (e.g. `openssl rand -hex 32`)");
            }
            return Ok(Signer::new(secret.as_bytes()));
        }
        if !embedded {
            anyhow::bail!(
                "--secret (MICRODASH_SECRET) is needed with MariaDB: every api node must sign export \
                 links and stream tickets with the same secret (e.g. `openssl rand -hex 32`)"
            );
        }
        let path = self.store.data_dir.join("secret");
        if let Ok(existing) = std::fs::read_to_string(&path) {
            return Ok(Signer::new(existing.trim().as_bytes()));
        }
        // The data directory holds the database, the journal and this secret: the service
        // user's alone when it is made here.
        let mut dir = std::fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
        dir.create(&self.store.data_dir)
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", self.store.data_dir.display()))?;
        let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        write_private(&path, &secret).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        tracing::info!(path = %path.display(), "Created the secret that signs export links and stream tickets.");
        Ok(Signer::new(secret.as_bytes()))
    }

    /// Live stream limits and sizes.
    pub fn live(&self) -> LiveOptions {
        LiveOptions {
            max_streams_per_tenant: self.live_max_streams_per_tenant,
            max_streams_per_node: self.live_max_streams,
            ..LiveOptions::default()
        }
    }
}

/// Writes a file only its owner can read (the secret must not leak to other local users).
fn write_private(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(content.as_bytes())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn serve(args: &[&str]) -> ServeArgs {
        let argv = ["microdash", "serve"].iter().chain(args);
        match Cli::parse_from(argv).command {
            Command::Serve(args) => args,
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_embedded_secret_is_created_once_and_kept_so_links_survive_a_restart() {
        let dir = tempfile::TempDir::new().unwrap();
        let args = serve(&["--data-dir", dir.path().to_str().unwrap()]);
        let first = args.signer(true).unwrap().sign(b"link");
        assert_eq!(args.signer(true).unwrap().sign(b"link"), first, "same secret after a restart");
        let other = tempfile::TempDir::new().unwrap();
        let elsewhere = serve(&["--data-dir", other.path().to_str().unwrap()]);
        assert_ne!(elsewhere.signer(true).unwrap().sign(b"link"), first, "random per installation");
    }

    #[test]
    fn a_given_secret_is_shared_and_a_short_or_missing_one_is_refused_where_it_must_be() {
        let secret = "0123456789abcdef0123456789abcdef";
        let a = serve(&["--secret", secret, "--data-dir", "/nonexistent/a"]).signer(false).unwrap();
        let b = serve(&["--secret", secret, "--data-dir", "/nonexistent/b"]).signer(false).unwrap();
        assert_eq!(a.sign(b"link"), b.sign(b"link"), "two api nodes with one secret agree");
        let short = serve(&["--secret", "short"]).signer(true).unwrap_err().to_string();
        assert!(short.contains("at least 32"), "{short}");
        let none = serve(&[]).signer(false).unwrap_err().to_string();
        assert!(none.contains("--secret") && none.contains("MariaDB"), "{none}");
    }
}
