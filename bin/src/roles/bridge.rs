//! `microdash bridge`: metrics from an external MQTT broker into the shared queue. The broker
//! (Mosquitto with `deploy/mosquitto`'s ACL, EMQX, ...) authenticates the devices and keeps
//! each one under `metrics/<its tenant>/`; the bridge trusts the tenant in the topic.

use crate::app::{App, Roles};
use crate::config::ServeArgs;

/// Runs the bridge until SIGTERM or Ctrl-C; on the way out, what it took from the broker is
/// queued and acknowledged (or left for the broker to deliver again).
///
/// # Errors
/// When start-up fails: options, database, Redis, or the broker refusing the connection or
/// the subscription.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let app = App::build_roles(&args, Roles::BRIDGE).await?;
    if let Some(addr) = app.http_addr() {
        tracing::info!(%addr, "Serving /healthz and /readyz.");
    }
    app.run(super::serve::shutdown_signal()).await
}
