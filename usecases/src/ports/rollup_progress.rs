use std::sync::Arc;

use async_trait::async_trait;
use microdash_domain::{TenantId, Timestamp};

use super::{SeriesId, StoreError};

/// The minutes of a tenant's raw data still to fold into 1-minute buckets: `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoldRange {
    /// Everything before this is folded.
    pub from: Timestamp,
    /// Everything before this is closed: late samples for it mark their bucket dirty.
    pub to: Timestamp,
}

/// A 1-minute bucket that samples reached after its minute was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DirtyBucket {
    /// The series.
    pub series: SeriesId,
    /// Start of the minute.
    pub minute: Timestamp,
    /// Changes each time another late sample marks the bucket, so a mark is only cleared
    /// by whoever folded the samples it stands for.
    pub version: i64,
}

/// Where the rollup job stands per tenant, and which closed buckets late samples touched.
///
/// Closing a minute and inserting samples are ordered by the store: a sample inserted after
/// [`RollupProgress::close_until`] returns is marked dirty if its minute is closed, and one
/// inserted before is visible to every read that starts after it returns.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RollupProgress: Send + Sync {
    /// Closes every minute before `target` (a minute boundary; the close point never moves
    /// back) and returns what is still to fold. A new tenant starts closed and folded at the
    /// minute it was created; older samples it sends later are late samples.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn close_until(&self, tenant: TenantId, target: Timestamp) -> Result<FoldRange, StoreError>;

    /// Records that every minute before `until` is folded (never beyond the close point,
    /// never moving back).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn mark_folded(&self, tenant: TenantId, until: Timestamp) -> Result<(), StoreError>;

    /// Up to `max` dirty buckets of the tenant, oldest minute first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn dirty_buckets(&self, tenant: TenantId, max: usize) -> Result<Vec<DirtyBucket>, StoreError>;

    /// Forgets the marks of re-folded buckets; a mark whose version changed since it was read
    /// (another late sample arrived) stays.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn clear_dirty(&self, tenant: TenantId, buckets: &[DirtyBucket]) -> Result<(), StoreError>;

    /// For minutes whose other raw samples retention may already have removed: merges the raw
    /// samples now stored in each dirty minute into its 1-minute and 5-minute buckets, deletes
    /// those samples and the mark, all at once, so that running it again adds nothing twice.
    /// Returns how many samples were absorbed.
    ///
    /// # Errors
    /// - [`StoreError::Conflict`] when another caller absorbed some of the same samples at the
    ///   same time; nothing was changed, and the next run sees what is left.
    /// - [`StoreError::Unavailable`] when the backend fails.
    async fn absorb_late(&self, tenant: TenantId, buckets: &[DirtyBucket]) -> Result<u64, StoreError>;
}

/// Shared [`RollupProgress`].
pub type RollupProgressRef = Arc<dyn RollupProgress>;
