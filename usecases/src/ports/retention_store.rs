use std::sync::Arc;

use async_trait::async_trait;
use microdash_domain::{TenantId, Timestamp};

use super::StoreError;

/// What retention removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expiring {
    /// Raw samples.
    Raw,
    /// 1-minute buckets.
    OneMinute,
    /// 5-minute buckets.
    FiveMinutes,
    /// Remembered dedupe ids (by the time of the sample they came with).
    DedupeIds,
}

/// Where a chunked deletion goes on; opaque to callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryCursor(pub i64);

/// What one chunk removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expired {
    /// Rows removed.
    pub deleted: u64,
    /// `Some` while more may be left: pass it to the next call.
    pub next: Option<ExpiryCursor>,
}

/// Deleting a tenant's expired data in small chunks, so that writers never wait long.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes at most `max_rows` rows of `what` older than `before` (by sample time or bucket
    /// start), continuing from `cursor` (`None` the first time). Raw samples in a minute
    /// marked dirty (see [`RollupProgress`](super::RollupProgress)) are kept until it is
    /// folded again. Call again with [`Expired::next`] until it is `None`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails; what was deleted before stays deleted.
    async fn delete_expired(
        &self,
        tenant: TenantId,
        what: Expiring,
        before: Timestamp,
        cursor: Option<ExpiryCursor>,
        max_rows: usize,
    ) -> Result<Expired, StoreError>;
}

/// Shared [`RetentionStore`].
pub type RetentionStoreRef = Arc<dyn RetentionStore>;
