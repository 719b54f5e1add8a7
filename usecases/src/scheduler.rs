//! The scheduler: periodic jobs (rollups, retention, later alert evaluation) run by exactly one
//! process at a time, the holder of the [`LeaderLock`](crate::ports::LeaderLock). The others
//! wait on standby and take over within a lease when the leader stops renewing it.
//!
//! Jobs must be idempotent (upserts, bounded deletes): a leader that loses the lease stops its
//! jobs at their next await point, and for up to one renewal period two leaders may overlap.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error_chain::ErrorChain;
use crate::ports::LeaderLockRef;

/// What a job run may fail with; logged, and the job runs again at its next turn.
pub type JobError = Box<dyn std::error::Error + Send + Sync>;

/// One periodic job.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Job: Send + Sync {
    /// Short name, for the logs (`rollup`, `retention`).
    fn name(&self) -> &'static str;

    /// Pause between the end of one run and the start of the next.
    fn interval(&self) -> Duration;

    /// One run: do the work that is due, then return.
    ///
    /// # Errors
    /// Anything that stopped this run; the scheduler logs it and tries again after `interval`.
    async fn run(&self) -> Result<(), JobError>;
}

/// Shared [`Job`].
pub type JobRef = Arc<dyn Job>;

/// Timing of the leader lease.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerOptions {
    /// How long the lock holds without renewal: the longest a dead leader blocks a takeover.
    pub lease: Duration,
    /// How often the leader renews the lease; well under `lease`.
    pub renew_every: Duration,
    /// How often a standby scheduler tries to take the lock.
    pub standby_poll: Duration,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(10),
            renew_every: Duration::from_secs(2),
            standby_poll: Duration::from_secs(1),
        }
    }
}

/// Runs the jobs while this process is the leader.
pub struct SchedulerService {
    lock: LeaderLockRef,
    jobs: Vec<JobRef>,
    options: SchedulerOptions,
}

impl SchedulerService {
    /// Builds the service over its jobs.
    pub fn new(lock: LeaderLockRef, jobs: Vec<JobRef>, options: SchedulerOptions) -> Self {
        Self { lock, jobs, options }
    }

    /// Waits for the lock, runs the jobs while it holds it, goes back to waiting when it
    /// loses it, and returns (releasing the lock) once `shutdown` completes.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let names: Vec<&str> = self.jobs.iter().map(|j| j.name()).collect();
        loop {
            tokio::select! {
                () = self.wait_for_lock() => {}
                () = &mut shutdown => return,
            }
            tracing::info!(jobs = ?names, "This scheduler is the leader; running the jobs.");
            // Job loops never end; with no jobs, this still holds the lease until shutdown.
            let jobs = futures::future::join_all(self.jobs.iter().map(|job| self.job_loop(job)));
            let jobs = async {
                jobs.await;
                std::future::pending::<()>().await;
            };
            tokio::select! {
                () = jobs => {}
                () = self.keep_lease() => {
                    tracing::warn!("Lost the scheduler lease; jobs stopped, back on standby.");
                }
                () = &mut shutdown => {
                    if let Err(error) = self.lock.release().await {
                        tracing::warn!(error = %ErrorChain(&error), "Could not release the scheduler lock; it expires by itself.");
                    }
                    tracing::info!("Scheduler stopped.");
                    return;
                }
            }
        }
    }

    async fn wait_for_lock(&self) {
        let mut told = false;
        loop {
            match self.lock.acquire(self.options.lease).await {
                Ok(true) => return,
                Ok(false) if !told => {
                    tracing::info!(
                        lease_s = self.options.lease.as_secs_f64(),
                        "Another scheduler is the leader; standing by to take over."
                    );
                    told = true;
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(error = %ErrorChain(&error), "Cannot reach the scheduler lock; retrying.")
                }
            }
            tokio::time::sleep(self.options.standby_poll).await;
        }
    }

    /// Renews the lease until it is lost: taken by another, or not renewed for so long that
    /// it may have expired.
    async fn keep_lease(&self) {
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.options.renew_every).await;
            match self.lock.acquire(self.options.lease).await {
                Ok(true) => last_renewed = tokio::time::Instant::now(),
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(error = %ErrorChain(&error), "Cannot renew the scheduler lease; retrying.");
                    // Step down before the lease can run out under us.
                    if last_renewed.elapsed() + self.options.renew_every >= self.options.lease {
                        return;
                    }
                }
            }
        }
    }

    async fn job_loop(&self, job: &JobRef) {
        loop {
            let started = tokio::time::Instant::now();
            match job.run().await {
                Ok(()) => tracing::debug!(
                    job = job.name(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "Job run finished."
                ),
                Err(error) => {
                    tracing::warn!(job = job.name(), error = %ErrorChain(&*error), "Job run failed; will retry.")
                }
            }
            tokio::time::sleep(job.interval()).await;
        }
    }
}
