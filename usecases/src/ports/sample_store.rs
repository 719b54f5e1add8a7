use std::sync::Arc;

use async_trait::async_trait;
use microdash_domain::{AgentId, MetricName, Sample, Tags, TenantId, Timestamp};

use super::StoreError;

/// What an insert did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Samples written (a sample for a series and millisecond that already had one replaces it
    /// and counts here).
    pub stored: usize,
    /// Positions, in the batch, of samples skipped because the tenant had sent their
    /// `dedupe_id` before. Usually empty.
    pub duplicates: Vec<usize>,
}

/// A raw-data query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawQuery {
    /// Metric to read.
    pub metric: MetricName,
    /// Only this agent's series, when given.
    pub agent: Option<AgentId>,
    /// Only series carrying every one of these tags (empty: any).
    pub tags: Tags,
    /// Inclusive start.
    pub start: Timestamp,
    /// Inclusive end.
    pub end: Timestamp,
    /// Most points to return, over all series; the earliest points are returned first.
    pub limit: usize,
}

/// One series of a query result.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSeries {
    /// Agent of the series.
    pub agent: Option<AgentId>,
    /// Tags of the series.
    pub tags: Tags,
    /// Points in time order.
    pub points: Vec<(Timestamp, f64)>,
}

/// A query result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawQueryResult {
    /// Matching series that have points in the returned page, ordered by agent then tags.
    pub series: Vec<RawSeries>,
    /// How many points match in all, which is more than returned when `truncated`.
    pub total: u64,
    /// True when `limit` cut the result.
    pub truncated: bool,
}

/// Durable store of raw samples; every call is scoped to one tenant.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SampleStore: Send + Sync {
    /// Stores a batch atomically: all of it or, on error, none of it. Samples for a minute the
    /// tenant's rollups have already closed (see [`RollupProgress`](super::RollupProgress))
    /// mark that (series, minute) dirty in the same transaction, so it is folded again.
    ///
    /// # Errors
    /// - [`StoreError::Unavailable`] when the backend cannot be reached; callers MAY retry the
    ///   whole batch, which is safe (same series and millisecond replace, dedupe ids are skipped).
    /// - [`StoreError::Rejected`] when the backend refuses the batch for good; retrying cannot help.
    async fn insert_batch(&self, tenant: TenantId, batch: &[Sample]) -> Result<Inserted, StoreError>;

    /// Reads raw points.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn query_raw(&self, tenant: TenantId, query: &RawQuery) -> Result<RawQueryResult, StoreError>;

    /// The tenant's metric names, sorted.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn metric_names(&self, tenant: TenantId) -> Result<Vec<MetricName>, StoreError>;
}

/// Shared [`SampleStore`].
pub type SampleStoreRef = Arc<dyn SampleStore>;
