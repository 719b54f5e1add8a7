//! The command line of `microdash`. Every flag also reads a `MICRODASH_*` environment variable,
//! and `--help` on any command lists them.

use clap::{Args, Parser, Subcommand};

use crate::config::{RedisArgs, ServeArgs, StoreArgs};
use crate::telemetry::LogFormat;

/// microdash: a self-hostable, multi-tenant observability micro-dashboard.
///
/// Push metrics over HTTP, read them back, and (soon) chart and alert on them. `microdash
/// serve` runs everything in one process on an embedded SQLite database: no server to install.
#[derive(Debug, Parser)]
#[command(name = "microdash", version, propagate_version = true)]
pub struct Cli {
    /// Log line format.
    #[arg(long, env = "MICRODASH_LOG_FORMAT", value_enum, default_value = "human", global = true)]
    pub log_format: LogFormat,

    /// Which log lines to show, as `tracing` filter directives (e.g. `debug`, `info,microdash=debug`).
    #[arg(
        long,
        env = "MICRODASH_LOG",
        default_value = "info,sqlx=warn,poem::middleware=warn",
        global = true
    )]
    pub log: String,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every role in one process: HTTP API, ingest worker, scheduler; SQLite and an
    /// in-process queue by default, no server to install.
    Serve(ServeArgs),
    /// Run only the HTTP API (ingest into the Redis queue, queries). Scale out behind a load
    /// balancer; needs --redis-url and a shared database (MariaDB).
    Api(ServeArgs),
    /// Run only the ingest worker: Redis queue into the database, then the live bus. Run as
    /// many as you like: they share the work through one consumer group.
    Worker(ServeArgs),
    /// Run only the scheduler (rollups, retention). Run two for failover: one holds the
    /// leader lock in Redis, the other takes over within seconds when it stops.
    Scheduler(ServeArgs),
    /// Run only the bridge: subscribe at an external MQTT broker (--mqtt-url, e.g. Mosquitto
    /// enforcing per-tenant ACLs) with a shared subscription, and queue what arrives. Run
    /// several to split the load; needs --redis-url and the shared database.
    Bridge(ServeArgs),
    /// Manage tenants (create, list, set-quota, set-retention).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage API tokens (create, list, revoke).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Create or upgrade the database schema, then exit (every role also does this at start).
    Migrate(StoreArgs),
    /// Inspect the Redis ingest queue and manage its dead letters.
    #[command(subcommand)]
    Queue(QueueCommand),
}

/// Tenant administration.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Short unique name: lowercase letters, digits and '-', e.g. `acme`.
        slug: String,
        /// Display name (default: the slug).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        common: AdminArgs,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        common: AdminArgs,
    },
    /// Set a tenant's per-token ingest quota.
    SetQuota {
        /// The tenant.
        slug: String,
        /// Samples each token of the tenant may send per minute.
        #[arg(long)]
        samples_per_minute: u64,
        #[command(flatten)]
        common: AdminArgs,
    },
    /// Set how long each resolution of a tenant's data is kept, e.g. `--raw 24h --1m 7d
    /// --5m 30d` (the defaults). The retention job applies it within a minute.
    SetRetention {
        /// The tenant.
        slug: String,
        /// Raw samples: at least 1h.
        #[arg(long, default_value = "24h", value_parser = microdash_domain::duration::parse_duration)]
        raw: std::time::Duration,
        /// 1-minute rollups: at least as long as raw samples.
        #[arg(long = "1m", default_value = "7d", value_parser = microdash_domain::duration::parse_duration)]
        one_minute: std::time::Duration,
        /// 5-minute rollups: at least as long as 1-minute rollups.
        #[arg(long = "5m", default_value = "30d", value_parser = microdash_domain::duration::parse_duration)]
        five_minutes: std::time::Duration,
        #[command(flatten)]
        common: AdminArgs,
    },
}

/// Token administration.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token; it is printed once and only its hash is stored.
    Create {
        /// The tenant the token writes and reads.
        #[arg(long)]
        tenant: String,
        /// What the token is for (shown in listings).
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        common: AdminArgs,
    },
    /// List a tenant's tokens (prefix, name, created, last used, revoked).
    List {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        common: AdminArgs,
    },
    /// Revoke a token; running servers refuse it within a second.
    Revoke {
        /// The token's id, as shown by `token list`.
        id: i64,
        #[command(flatten)]
        common: AdminArgs,
    },
}

/// Options of every admin command.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Print machine-readable JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Ingest queue administration (the Redis queue of the production deployment).
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Depth, batches being stored, the age of the oldest one, and dead letters.
    Stats {
        #[command(flatten)]
        common: QueueArgs,
    },
    /// Batches set aside because they could not be stored.
    #[command(subcommand)]
    DeadLetters(DeadLetterCommand),
}

/// Dead-letter administration.
#[derive(Debug, Subcommand)]
pub enum DeadLetterCommand {
    /// List dead letters, oldest first: id, why, tenant, samples.
    List {
        /// Most to show.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        common: QueueArgs,
    },
    /// Put dead letters back on the ingest queue (after fixing what made them fail).
    Replay {
        /// Dead-letter ids, as `list` shows them.
        #[arg(required_unless_present = "all")]
        ids: Vec<String>,
        /// Every dead letter.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        #[command(flatten)]
        common: QueueArgs,
    },
    /// Delete dead letters for good.
    Drop {
        /// Dead-letter ids, as `list` shows them.
        #[arg(required_unless_present = "all")]
        ids: Vec<String>,
        /// Every dead letter.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        #[command(flatten)]
        common: QueueArgs,
    },
}

/// Options of every queue command.
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// Print machine-readable JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub redis: RedisArgs,
}
