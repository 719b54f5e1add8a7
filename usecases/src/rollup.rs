//! The rollup job: folds closed minutes of raw samples into 1-minute buckets and closed
//! 5-minute windows of those into 5-minute buckets, per series, for every tenant; then folds
//! again the buckets that late samples touched.
//!
//! Idempotent: buckets are recomputed from the finer data and *replace* what was stored, so a
//! re-run (or a second scheduler overlapping for a lease) never counts twice. Minutes are
//! closed `grace` after they end. Writers mark (series, minute) dirty when they store a sample
//! for a closed minute (see [`RollupProgress`](crate::ports::RollupProgress)), so a late sample
//! costs one re-fold of its bucket and nothing is rescanned. A dirty minute whose other raw
//! samples retention may already have removed is *absorbed* instead: its new samples are merged
//! into the stored buckets and deleted, atomically.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use microdash_domain::rollup::{FIVE_MINUTES_MS, MINUTE_MS, bucket_start, rebucket};
use microdash_domain::{Resolution, Tenant, TenantId, Timestamp};

use crate::ports::{
    ClockRef, DirtyBucket, RollupProgressRef, RollupStoreRef, SeriesBucket, SeriesId, SeriesReaderRef,
    StoreError, TenantRepoRef,
};
use crate::scheduler::{Job, JobError};

/// Settings of the rollup job.
#[derive(Debug, Clone, Copy)]
pub struct RollupOptions {
    /// How long after a minute ends it is closed and folded: samples normally arrive within
    /// milliseconds, and anything later is re-folded as late data anyway.
    pub grace: Duration,
    /// Pause between runs: with `grace` it bounds how far 1-minute buckets lag behind.
    pub interval: Duration,
    /// Minutes of raw data folded per step, so a backlog (first run, job down) is worked off
    /// in bounded pieces that each record their progress.
    pub step: Duration,
    /// Series read per statement.
    pub series_per_read: usize,
    /// Dirty buckets handled per round.
    pub dirty_per_round: usize,
}

impl Default for RollupOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(30),
            interval: Duration::from_secs(10),
            step: Duration::from_secs(3600),
            series_per_read: 500,
            dirty_per_round: 1_000,
        }
    }
}

/// Rounds of dirty buckets per tenant and run: a steady flood of late samples for one tenant
/// must not keep the job from the others; what is left waits for the next run.
const DIRTY_ROUNDS_PER_RUN: usize = 10;

/// What one run did, for the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollupReport {
    /// Minutes folded (per tenant, summed).
    pub minutes: u64,
    /// Buckets written (1m and 5m).
    pub buckets: u64,
    /// Late buckets folded again from raw samples.
    pub refolded: u64,
    /// Late samples absorbed into buckets whose raw data may be gone.
    pub absorbed: u64,
}

/// Folds raw samples into rollups.
pub struct RollupService {
    tenants: TenantRepoRef,
    series: SeriesReaderRef,
    rollups: RollupStoreRef,
    progress: RollupProgressRef,
    clock: ClockRef,
    options: RollupOptions,
}

impl RollupService {
    /// Builds the service.
    pub fn new(
        tenants: TenantRepoRef,
        series: SeriesReaderRef,
        rollups: RollupStoreRef,
        progress: RollupProgressRef,
        clock: ClockRef,
        options: RollupOptions,
    ) -> Self {
        Self { tenants, series, rollups, progress, clock, options }
    }

    /// Folds whatever is due for every tenant.
    ///
    /// # Errors
    /// The first store failure; what was folded before it is kept and recorded.
    #[tracing::instrument(name = "rollup.run", skip_all)]
    pub async fn run_once(&self) -> Result<RollupReport, StoreError> {
        let now = self.clock.now();
        let target = bucket_start(now.plus_millis(-millis(self.options.grace)), MINUTE_MS);
        let mut report = RollupReport::default();
        for tenant in self.tenants.list().await? {
            self.fold_tenant(&tenant, target, now, &mut report).await?;
        }
        if report.refolded + report.absorbed > 0 {
            tracing::info!(
                refolded = report.refolded,
                absorbed = report.absorbed,
                "Late samples folded into rollups."
            );
        }
        tracing::debug!(minutes = report.minutes, buckets = report.buckets, "Rollup run finished.");
        Ok(report)
    }

    async fn fold_tenant(
        &self,
        tenant: &Tenant,
        target: Timestamp,
        now: Timestamp,
        report: &mut RollupReport,
    ) -> Result<(), StoreError> {
        let t = tenant.id;
        let range = self.progress.close_until(t, target).await?;
        let ids = if range.from < range.to { self.series.series_ids(t).await? } else { Vec::new() };
        let mut from = range.from;
        while from < range.to {
            let to = range.to.min(from.plus_millis(millis(self.options.step).max(MINUTE_MS)));
            report.buckets += self.fold_span(t, &ids, from, to).await?;
            self.progress.mark_folded(t, to).await?;
            report.minutes += ((to.as_millis() - from.as_millis()) / MINUTE_MS) as u64;
            from = to;
        }
        // A late bucket still within raw retention has all its samples stored (retention keeps
        // the raw samples of a marked minute), so it is re-folded from them; an older one lost
        // its earlier samples to retention, so the late ones are merged into the stored bucket
        // (absorbing a minute whose samples are all still there would count them twice).
        let refold_after = bucket_start(Resolution::Raw.retained_since(now, &tenant.retention), MINUTE_MS);
        for _ in 0..DIRTY_ROUNDS_PER_RUN {
            let dirty = self.progress.dirty_buckets(t, self.options.dirty_per_round).await?;
            if dirty.is_empty() {
                break;
            }
            let (recent, old): (Vec<_>, Vec<_>) = dirty.iter().partition(|d| d.minute >= refold_after);
            if !recent.is_empty() {
                report.buckets += self.refold(t, &recent).await?;
                self.progress.clear_dirty(t, &recent).await?;
                report.refolded += recent.len() as u64;
            }
            if !old.is_empty() {
                report.absorbed += self.progress.absorb_late(t, &old).await?;
            }
            if dirty.len() < self.options.dirty_per_round {
                break;
            }
        }
        Ok(())
    }

    /// Folds raw `[from, to)` into 1-minute buckets (where the data is, see
    /// [`RollupStore::fold_raw`](crate::ports::RollupStore::fold_raw)) and the 5-minute windows
    /// closed by `to`.
    async fn fold_span(
        &self,
        t: TenantId,
        ids: &[SeriesId],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64, StoreError> {
        let mut written = 0;
        let (five_from, five_to) = (bucket_start(from, FIVE_MINUTES_MS), bucket_start(to, FIVE_MINUTES_MS));
        for group in ids.chunks(self.options.series_per_read.max(1)) {
            let minutes: Vec<SeriesBucket> = self
                .rollups
                .fold_raw(t, group, from, to)
                .await?
                .into_iter()
                .flat_map(|(id, b)| b.into_iter().map(move |(at, b)| (id, at, b)))
                .collect();
            written += self.write(t, Resolution::OneMinute, &minutes).await?;
            if five_from < five_to {
                let stored = self
                    .rollups
                    .read_buckets(t, Resolution::OneMinute, group, five_from, five_to.plus_millis(-1), None)
                    .await?;
                let fives: Vec<SeriesBucket> = stored
                    .into_iter()
                    .flat_map(|(id, b)| {
                        rebucket(b, FIVE_MINUTES_MS).into_iter().map(move |(at, b)| (id, at, b))
                    })
                    .collect();
                written += self.write(t, Resolution::FiveMinutes, &fives).await?;
            }
        }
        Ok(written)
    }

    /// Recomputes late buckets from raw samples (still all there) and their 5-minute windows
    /// from 1-minute buckets.
    async fn refold(&self, t: TenantId, dirty: &[DirtyBucket]) -> Result<u64, StoreError> {
        let mut by_minute: BTreeMap<Timestamp, Vec<SeriesId>> = BTreeMap::new();
        let mut windows: BTreeMap<Timestamp, BTreeSet<SeriesId>> = BTreeMap::new();
        for d in dirty {
            by_minute.entry(d.minute).or_default().push(d.series);
            windows.entry(bucket_start(d.minute, FIVE_MINUTES_MS)).or_default().insert(d.series);
        }
        let mut written = 0;
        for (minute, ids) in by_minute {
            let minutes: Vec<SeriesBucket> = self
                .rollups
                .fold_raw(t, &ids, minute, minute.plus_millis(MINUTE_MS))
                .await?
                .into_iter()
                .flat_map(|(id, b)| b.into_iter().map(move |(at, b)| (id, at, b)))
                .collect();
            written += self.write(t, Resolution::OneMinute, &minutes).await?;
        }
        for (window, ids) in windows {
            let ids: Vec<_> = ids.into_iter().collect();
            let last = window.plus_millis(FIVE_MINUTES_MS - 1);
            let stored =
                self.rollups.read_buckets(t, Resolution::OneMinute, &ids, window, last, None).await?;
            let fives: Vec<SeriesBucket> = stored
                .into_iter()
                .flat_map(|(id, b)| rebucket(b, FIVE_MINUTES_MS).into_iter().map(move |(at, b)| (id, at, b)))
                .collect();
            written += self.write(t, Resolution::FiveMinutes, &fives).await?;
        }
        Ok(written)
    }

    async fn write(
        &self,
        t: TenantId,
        resolution: Resolution,
        buckets: &[SeriesBucket],
    ) -> Result<u64, StoreError> {
        if buckets.is_empty() {
            return Ok(0);
        }
        self.rollups.write_buckets(t, resolution, buckets).await?;
        Ok(buckets.len() as u64)
    }
}

#[async_trait]
impl Job for RollupService {
    fn name(&self) -> &'static str {
        "rollup"
    }

    fn interval(&self) -> Duration {
        self.options.interval
    }

    async fn run(&self) -> Result<(), JobError> {
        self.run_once().await.map(drop).map_err(Into::into)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
