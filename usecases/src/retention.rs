//! The retention job: deletes each tenant's expired data (raw samples, 1-minute and 5-minute
//! buckets, remembered dedupe ids) in small chunks, so writers wait for at most one chunk.
//!
//! Raw samples are only deleted once folded: the cut-off is the older of "now minus the raw
//! retention" and how far the rollup job got, and the store keeps raw samples of minutes late
//! data marked dirty. Likewise 1-minute buckets go only once their 5-minute window is folded.

use std::time::Duration;

use async_trait::async_trait;
use microdash_domain::rollup::{FIVE_MINUTES_MS, MINUTE_MS, bucket_start};
use microdash_domain::{Resolution, Tenant, Timestamp};

use crate::ports::{ClockRef, Expiring, RetentionStoreRef, RollupStoreRef, StoreError, TenantRepoRef};
use crate::scheduler::{Job, JobError};

/// Settings of the retention job.
#[derive(Debug, Clone, Copy)]
pub struct RetentionOptions {
    /// Pause between runs; data lives at most this much longer than its retention.
    pub interval: Duration,
    /// Rows per delete: a chunk of 500 rows holds the SQLite writer (and MariaDB row locks)
    /// for a few milliseconds (see the history benchmark).
    pub chunk_rows: usize,
}

impl Default for RetentionOptions {
    fn default() -> Self {
        Self { interval: Duration::from_secs(60), chunk_rows: 500 }
    }
}

/// What one run removed, summed over tenants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Raw samples.
    pub raw: u64,
    /// 1-minute buckets.
    pub one_minute: u64,
    /// 5-minute buckets.
    pub five_minutes: u64,
    /// Dedupe ids.
    pub dedupe_ids: u64,
}

/// Deletes expired data.
pub struct RetentionService {
    tenants: TenantRepoRef,
    rollups: RollupStoreRef,
    store: RetentionStoreRef,
    clock: ClockRef,
    options: RetentionOptions,
}

impl RetentionService {
    /// Builds the service.
    pub fn new(
        tenants: TenantRepoRef,
        rollups: RollupStoreRef,
        store: RetentionStoreRef,
        clock: ClockRef,
        options: RetentionOptions,
    ) -> Self {
        Self { tenants, rollups, store, clock, options }
    }

    /// Deletes what expired for every tenant, and logs what it removed per tenant.
    ///
    /// # Errors
    /// The first store failure; what was deleted before it stays deleted.
    #[tracing::instrument(name = "retention.run", skip_all)]
    pub async fn run_once(&self) -> Result<RetentionReport, StoreError> {
        let now = self.clock.now();
        let mut total = RetentionReport::default();
        for tenant in self.tenants.list().await? {
            let removed = self.expire_tenant(&tenant, now).await?;
            if removed != RetentionReport::default() {
                tracing::info!(
                    tenant = %tenant.slug,
                    raw = removed.raw,
                    one_minute = removed.one_minute,
                    five_minutes = removed.five_minutes,
                    dedupe_ids = removed.dedupe_ids,
                    "Retention removed expired data."
                );
            }
            total.raw += removed.raw;
            total.one_minute += removed.one_minute;
            total.five_minutes += removed.five_minutes;
            total.dedupe_ids += removed.dedupe_ids;
        }
        Ok(total)
    }

    async fn expire_tenant(&self, tenant: &Tenant, now: Timestamp) -> Result<RetentionReport, StoreError> {
        let r = &tenant.retention;
        let folded = self.rollups.folded_until(tenant.id).await?;
        let cut = |res: Resolution, width: i64| bucket_start(res.retained_since(now, r), width);
        let raw_before = cut(Resolution::Raw, MINUTE_MS).min(folded);
        let one_minute_before =
            cut(Resolution::OneMinute, MINUTE_MS).min(bucket_start(folded, FIVE_MINUTES_MS));
        let five_minutes_before = cut(Resolution::FiveMinutes, FIVE_MINUTES_MS);
        let longest = i64::try_from(r.longest().as_millis()).unwrap_or(i64::MAX);
        let dedupe_before = now.plus_millis(-longest);
        Ok(RetentionReport {
            raw: self.expire(tenant, Expiring::Raw, raw_before).await?,
            one_minute: self.expire(tenant, Expiring::OneMinute, one_minute_before).await?,
            five_minutes: self.expire(tenant, Expiring::FiveMinutes, five_minutes_before).await?,
            dedupe_ids: self.expire(tenant, Expiring::DedupeIds, dedupe_before).await?,
        })
    }

    async fn expire(&self, tenant: &Tenant, what: Expiring, before: Timestamp) -> Result<u64, StoreError> {
        let mut deleted = 0;
        let mut cursor = None;
        loop {
            let chunk =
                self.store.delete_expired(tenant.id, what, before, cursor, self.options.chunk_rows).await?;
            deleted += chunk.deleted;
            match chunk.next {
                Some(next) => cursor = Some(next),
                None => return Ok(deleted),
            }
            // Let writers queued behind this chunk go first.
            tokio::task::yield_now().await;
        }
    }
}

#[async_trait]
impl Job for RetentionService {
    fn name(&self) -> &'static str {
        "retention"
    }

    fn interval(&self) -> Duration {
        self.options.interval
    }

    async fn run(&self) -> Result<(), JobError> {
        self.run_once().await.map(drop).map_err(Into::into)
    }
}
