//! `microdash bridge`: metrics from an external MQTT broker into the shared queue. The broker
//! (Mosquitto with `deploy/mosquitto`'s ACL, EMQX, ...) authenticates the devices and keeps
//! each one under `metrics/<its tenant>/`; the bridge trusts the tenant in the topic. Not the
//! device endpoint, which authenticates devices itself: that is [`super::api`]'s.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use microdash_adapter_mqtt::Bridge;
use microdash_usecases::IngestService;
use microdash_usecases::ingest::TenantDirectory;

use crate::app::{Base, Roles};
use crate::config::ServeArgs;

/// Runs the bridge until SIGTERM or Ctrl-C; on the way out, what it took from the broker is
/// queued and acknowledged (or left for the broker to deliver again).
///
/// # Errors
/// When start-up fails: options, database, Redis, or the broker refusing the connection or
/// the subscription.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    super::run_apart(args, Roles::BRIDGE).await
}

/// Connects to the broker of `--mqtt-url` and subscribes.
///
/// # Errors
/// Without `--mqtt-url`, or when the broker refuses the connection or the subscription.
pub(crate) async fn build(base: &Base<'_>) -> anyhow::Result<Bridge> {
    let Base { args, storage, shared, clock, .. } = *base;
    let Some(options) = args.mqtt.bridge(Duration::from_secs(args.shutdown_grace))? else {
        anyhow::bail!("the bridge role needs --mqtt-url: the broker to take metrics from")
    };
    let ingest =
        IngestService::new(shared.queue.producer(), shared.limiter.clone(), clock.clone(), args.limits());
    let tenants = TenantDirectory::new(storage.tenants.clone(), clock.clone());
    let url = args.mqtt.mqtt_url.clone().unwrap_or_default();
    let bridge = Bridge::connect(options, Arc::new(ingest), Arc::new(tenants)).await;
    bridge.with_context(|| format!("starting the bridge from {url}"))
}
