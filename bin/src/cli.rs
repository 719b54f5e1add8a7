//! The command line of `microdash`. Every flag also reads a `MICRODASH_*` environment variable,
//! and `--help` on any command lists them.

use clap::{Args, Parser, Subcommand};

use crate::config::{ServeArgs, StoreArgs};
use crate::loadgen::LoadgenArgs;
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
    /// Run every role in one process: HTTP API, ingest worker, embedded store (SQLite by default).
    Serve(ServeArgs),
    /// Manage tenants (create, list, set-quota).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage API tokens (create, list, revoke).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Create or upgrade the database schema, then exit (`serve` also does this at start).
    Migrate(StoreArgs),
    /// Push synthetic samples at a running server and measure throughput and latency.
    Loadgen(LoadgenArgs),
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
