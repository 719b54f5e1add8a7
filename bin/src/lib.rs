//! microdash as a library: the composition root ([`app::App::build`]) and the commands of the
//! `microdash` binary. The binary and the whole-app tests both go through here, so what is
//! tested is what runs. The load generator is not here: it is the `microdash-loadgen` crate.
//!
//! # Layout
//! - [`cli`]: the command line (every flag has a `MICRODASH_*` environment variable).
//! - [`config`]: option groups shared by several commands, and their validation.
//! - [`telemetry`]: logging set-up.
//! - [`app`]: builds every adapter and service and runs them until shutdown.
//! - [`storage`]: the configured database (SQLite or MariaDB) behind the storage ports.
//! - [`roles`]: `serve` (everything in one process), `api`, `worker`, `scheduler`, `bridge`:
//!   each role's command and the builder of its part of an [`app::App`].
//! - [`queue`]: `queue stats` and `queue dead-letters` on the Redis queue.
//! - [`admin`]: `tenant` and `token` commands.
//! - `testing` (cargo feature `testing`): the in-process harness of the whole-app and BDD tests;
//!   not compiled into the product.

pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod queue;
pub mod roles;
pub mod storage;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

use cli::{Cli, Command};

/// Runs one command of the binary.
///
/// # Errors
/// Whatever stopped the command, with context for the user.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => roles::serve::run(args).await,
        Command::Api(args) => roles::api::run(args).await,
        Command::Worker(args) => roles::worker::run(args).await,
        Command::Scheduler(args) => roles::scheduler::run(args).await,
        Command::Bridge(args) => roles::bridge::run(args).await,
        Command::Queue(cmd) => queue::run(cmd).await,
        Command::Tenant(cmd) => admin::tenant(cmd).await,
        Command::Token(cmd) => admin::token(cmd).await,
        Command::Migrate(store) => admin::migrate(store).await,
    }
}
