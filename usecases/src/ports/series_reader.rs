use std::sync::Arc;

use async_trait::async_trait;
use microdash_domain::sample::SeriesKey;
use microdash_domain::{AgentId, MetricName, Tags, TenantId, Timestamp};

use super::StoreError;

/// The store's handle for one series. Only meaningful to the store that issued it, and every
/// call that takes one also takes the tenant: an id of another tenant's series reads nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesId(pub i64);

/// Which series of a metric to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesFilter {
    /// The metric.
    pub metric: MetricName,
    /// Only this agent's series, when given.
    pub agent: Option<AgentId>,
    /// Only series carrying every one of these tags (they may carry more).
    pub tags: Tags,
}

impl SeriesFilter {
    /// True when `key` is selected.
    pub fn matches(&self, key: &SeriesKey) -> bool {
        key.metric == self.metric
            && self.agent.as_ref().is_none_or(|a| key.agent.as_ref() == Some(a))
            && self.tags.iter().all(|(k, v)| key.tags.as_map().get(k).is_some_and(|x| x == v))
    }
}

/// A series as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSeries {
    /// The store's handle.
    pub id: SeriesId,
    /// What names it.
    pub key: SeriesKey,
}

/// Points of one series, in time order.
pub type SeriesPoints = (SeriesId, Vec<(Timestamp, f64)>);

/// Reading stored series and their raw points, for queries, exports and the rollup job.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SeriesReader: Send + Sync {
    /// The tenant's series selected by `filter`, ordered by agent (none first) then tags.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn series(&self, tenant: TenantId, filter: &SeriesFilter) -> Result<Vec<StoredSeries>, StoreError>;

    /// Every series id of the tenant, ascending (for the rollup and retention jobs).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn series_ids(&self, tenant: TenantId) -> Result<Vec<SeriesId>, StoreError>;

    /// Raw points with `start <= t <= end` of each of `series` that belongs to the tenant
    /// (others are ignored), at most `limit_per_series` of each (the earliest), in time
    /// order. One entry per series that has points, in the order of `series`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn read_points(
        &self,
        tenant: TenantId,
        series: &[SeriesId],
        start: Timestamp,
        end: Timestamp,
        limit_per_series: Option<usize>,
    ) -> Result<Vec<SeriesPoints>, StoreError>;

    /// Which metrics each agent reports, as sorted `(agent, metric)` pairs; only `agent`'s
    /// when given.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn agent_metrics(
        &self,
        tenant: TenantId,
        agent: Option<AgentId>,
    ) -> Result<Vec<(AgentId, MetricName)>, StoreError>;
}

/// Shared [`SeriesReader`].
pub type SeriesReaderRef = Arc<dyn SeriesReader>;
