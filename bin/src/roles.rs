//! The roles the binary runs, one module each with the role's command and its builder:
//! `serve` runs them all in one process (the embedded default); `api`, `worker`, `scheduler`
//! and `bridge` each run one, as separate processes sharing MariaDB and Redis, so each scales
//! on its own: N api nodes behind a load balancer, N workers in one consumer group, schedulers
//! of which one is active (leader lock) and the others stand by. What the roles share (the
//! database, Redis, the HTTP listener, the shutdown order) is [`crate::app`]'s, not here.

pub mod api;
pub mod bridge;
pub mod scheduler;
pub mod serve;
pub mod worker;

use crate::app::{App, Roles};
use crate::config::ServeArgs;

/// Runs one role apart from the others until SIGTERM or Ctrl-C.
///
/// # Errors
/// When start-up fails (options, database, Redis, port) or the role fails.
async fn run_apart(args: ServeArgs, roles: Roles) -> anyhow::Result<()> {
    let app = App::build_roles(&args, roles).await?;
    if let Some(addr) = app.http_addr() {
        if roles.api {
            announce(&format!("http://{addr}"));
            announce_mqtt(&app);
        } else {
            tracing::info!(%addr, "Serving /healthz and /readyz.");
        }
    }
    app.run(shutdown_signal()).await
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %error, "Cannot listen for Ctrl-C.");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(error) => {
                tracing::error!(error = %error, "Cannot listen for SIGTERM.");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received; shutting down."),
        () = term => tracing::info!("SIGTERM received; shutting down."),
    }
}

/// Prints where devices publish, when this process runs the MQTT endpoint.
#[allow(clippy::print_stdout)]
fn announce_mqtt(app: &App) {
    if let Some(addr) = app.mqtt_addr() {
        let tls = app.mqtts_addr().map_or(String::new(), |a| format!(" and mqtts://{a}"));
        println!("MQTT device endpoint on mqtt://{addr}{tls} (user name: tenant slug, password: API token)");
    }
}

// The banner and the address line are the command's output, for people and for scripts.
#[allow(clippy::print_stdout)]
fn announce(url: &str) {
    println!("microdash listening on {url} (API docs: {url}/docs)");
}
