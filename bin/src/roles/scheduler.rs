//! `microdash scheduler`: the periodic jobs (rollups, retention), run by the one process that
//! holds the leader lock; the others stand by and take over within seconds when it stops.

use std::sync::Arc;

use microdash_usecases::{
    JobRef, RetentionOptions, RetentionService, RollupOptions, RollupService, SchedulerOptions,
    SchedulerService,
};

use crate::app::{Base, Roles};
use crate::config::ServeArgs;

/// Runs the scheduler role alone until SIGTERM or Ctrl-C.
///
/// # Errors
/// When start-up fails (options, database, Redis, probe port).
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    super::run_apart(args, Roles::SCHEDULER).await
}

/// The scheduler and its jobs, under the shared leader lock.
pub(crate) fn build(base: &Base<'_>) -> Arc<SchedulerService> {
    let Base { storage, shared, clock, .. } = *base;
    let jobs: Vec<JobRef> = vec![
        Arc::new(RollupService::new(
            storage.tenants.clone(),
            storage.series.clone(),
            storage.rollups.clone(),
            storage.progress.clone(),
            clock.clone(),
            RollupOptions::default(),
        )),
        Arc::new(RetentionService::new(
            storage.tenants.clone(),
            storage.rollups.clone(),
            storage.retention.clone(),
            clock.clone(),
            RetentionOptions::default(),
        )),
    ];
    Arc::new(SchedulerService::new(shared.lock.clone(), jobs, SchedulerOptions::default()))
}
