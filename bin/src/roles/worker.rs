//! `microdash worker`: the ingest worker, from the queue into the database and then the live
//! bus. Run as many as you like: with Redis they share the work through one consumer group.

use std::sync::Arc;

use microdash_usecases::{PersistOptions, PersistService};

use crate::app::{Base, Roles};
use crate::config::ServeArgs;

/// Runs the worker role alone until SIGTERM or Ctrl-C; on the way out it stores the batches
/// it holds.
///
/// # Errors
/// When start-up fails (options, database, Redis, probe port) or the worker fails.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    super::run_apart(args, Roles::WORKER).await
}

/// The worker's service, reading the shared queue.
pub(crate) fn build(base: &Base<'_>) -> Arc<PersistService> {
    let Base { storage, shared, .. } = *base;
    Arc::new(PersistService::new(
        shared.queue.consumer(),
        storage.samples.clone(),
        storage.agents.clone(),
        shared.live.clone(),
        PersistOptions::default(),
    ))
}
