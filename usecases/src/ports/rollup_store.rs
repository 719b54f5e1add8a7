use std::sync::Arc;

use async_trait::async_trait;
use microdash_domain::{Bucket, Resolution, TenantId, Timestamp};

use super::{SeriesId, StoreError};

/// A bucket of one series, as written by the rollup job.
pub type SeriesBucket = (SeriesId, Timestamp, Bucket);

/// Buckets of one series, keyed by bucket start, in time order.
pub type SeriesBuckets = (SeriesId, Vec<(Timestamp, Bucket)>);

/// 1-minute and 5-minute buckets of every series. Passing [`Resolution::Raw`] to a method of
/// this port is a caller bug: implementations answer [`StoreError::Rejected`].
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RollupStore: Send + Sync {
    /// Up to where the tenant's raw data is folded into 1-minute buckets (exclusive, on a
    /// minute boundary); 5-minute buckets are folded up to the 5-minute boundary at or below
    /// it. Buckets after that are not stored yet: a reader folds them from raw data.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn folded_until(&self, tenant: TenantId) -> Result<Timestamp, StoreError>;

    /// Buckets whose start is within `[start, end]` of each of `series` that belongs to the
    /// tenant, at most `limit_per_series` of each (the earliest). One entry per series that
    /// has buckets, in the order of `series`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails; [`StoreError::Rejected`] for raw.
    async fn read_buckets(
        &self,
        tenant: TenantId,
        resolution: Resolution,
        series: &[SeriesId],
        start: Timestamp,
        end: Timestamp,
        limit_per_series: Option<usize>,
    ) -> Result<Vec<SeriesBuckets>, StoreError>;

    /// 1-minute buckets folded now from the raw samples with `from <= t < to` of each of
    /// `series` that belongs to the tenant: what [`fold_into_buckets`] gives for them, computed
    /// where the data is (the rollup job and the not yet folded minutes of a query use it).
    /// One entry per series that has samples, in the order of `series`.
    ///
    /// [`fold_into_buckets`]: microdash_domain::rollup::fold_into_buckets
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn fold_raw(
        &self,
        tenant: TenantId,
        series: &[SeriesId],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<SeriesBuckets>, StoreError>;

    /// Stores buckets, replacing any stored for the same series and start (so writing the
    /// same fold twice changes nothing). Series of other tenants are ignored.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails; [`StoreError::Rejected`] for raw.
    async fn write_buckets(
        &self,
        tenant: TenantId,
        resolution: Resolution,
        buckets: &[SeriesBucket],
    ) -> Result<(), StoreError>;
}

/// Shared [`RollupStore`].
pub type RollupStoreRef = Arc<dyn RollupStore>;
