//! The roles the binary runs. `serve` runs them all in one process (the embedded default);
//! `api`, `worker` and `scheduler` each run one, as separate processes sharing MariaDB and
//! Redis, so each scales on its own: N api nodes behind a load balancer, N workers in one
//! consumer group, schedulers of which one is active (leader lock) and the others stand by.

pub mod bridge;
pub mod serve;

use crate::app::{App, Roles};
use crate::config::ServeArgs;

/// Runs one role until SIGTERM or Ctrl-C.
///
/// # Errors
/// When start-up fails (options, database, Redis, port) or the role fails.
pub async fn run(args: ServeArgs, roles: Roles) -> anyhow::Result<()> {
    let app = App::build_roles(&args, roles).await?;
    if let Some(addr) = app.http_addr() {
        if roles.api {
            serve::announce(&format!("http://{addr}"));
            serve::announce_mqtt(&app);
        } else {
            tracing::info!(%addr, "Serving /healthz and /readyz.");
        }
    }
    app.run(serve::shutdown_signal()).await
}
