//! `microdash-agent`: parse the configuration, start logging, run until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use microdash_agent::config::{Config, ConfigError};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The cause chain on one line; never a backtrace for a configuration mistake.
            eprintln!("microdash-agent: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    // Only ring is linked, but installing it explicitly keeps rustls from panicking should
    // another provider ever enter the dependency tree.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cfg = match Config::load(std::env::args()) {
        Err(ConfigError::Cli(e)) => e.exit(),
        other => other?,
    };
    tracing_subscriber::fmt().with_max_level(cfg.log_level).with_writer(std::io::stderr).init();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(microdash_agent::app::run(cfg, shutdown_signal()))
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("Shutdown requested; flushing.");
}
