//! Raw pages: the earliest `limit` raw points of a metric over all its series, with how many
//! match in all. For scripts, load tests and the `limit` parameter of the query endpoint;
//! charts use [`QueryService::query`], which reduces instead of paging.

use microdash_domain::{MetricName, TenantId, Timestamp};

use super::{QueryError, QueryParams, QueryService, check};
use crate::ports::{RawQuery, RawQueryResult, SeriesFilter};

/// Default `limit` of [`QueryService::query_raw`].
pub const DEFAULT_LIMIT: usize = 10_000;

/// The parameters of [`QueryService::query_raw`]; all optional but the name.
#[derive(Debug, Clone, Default)]
pub struct RawQueryParams {
    /// Metric name.
    pub name: String,
    /// Inclusive start (default: `end` minus one hour).
    pub start: Option<Timestamp>,
    /// Inclusive end (default: now).
    pub end: Option<Timestamp>,
    /// Only this agent.
    pub agent_id: Option<String>,
    /// Most points (default 10,000; at most 100,000).
    pub limit: Option<usize>,
}

/// A page of raw points.
#[derive(Debug, Clone, PartialEq)]
pub struct RawPage {
    /// The metric queried.
    pub metric: MetricName,
    /// Inclusive start used.
    pub start: Timestamp,
    /// Inclusive end used.
    pub end: Timestamp,
    /// The points.
    pub result: RawQueryResult,
}

impl QueryService {
    /// The earliest `limit` (default 10,000) raw points of one metric over all its series,
    /// with how many match in all: a page of raw data for scripts and tests. Validated like
    /// [`QueryService::query`].
    ///
    /// # Errors
    /// [`QueryError::InvalidParameter`] naming the parameter; [`QueryError::Store`].
    #[tracing::instrument(name = "query.raw", skip_all, fields(tenant = %tenant, metric = %params.name))]
    pub async fn query_raw(&self, tenant: TenantId, params: RawQueryParams) -> Result<RawPage, QueryError> {
        let params = QueryParams {
            name: params.name,
            start: params.start,
            end: params.end,
            agent_id: params.agent_id,
            limit: Some(params.limit.unwrap_or(DEFAULT_LIMIT)),
            ..Default::default()
        };
        let q = check(params, self.clock.now(), &self.options)?;
        self.raw_page(tenant, q.filter, q.start, q.end, q.limit.unwrap_or(DEFAULT_LIMIT)).await
    }

    /// The earliest `limit` raw points over all matching series, with how many match in all.
    pub(super) async fn raw_page(
        &self,
        tenant: TenantId,
        filter: SeriesFilter,
        start: Timestamp,
        end: Timestamp,
        limit: usize,
    ) -> Result<RawPage, QueryError> {
        let query = RawQuery {
            metric: filter.metric.clone(),
            agent: filter.agent,
            tags: filter.tags,
            start,
            end,
            limit,
        };
        let result = self.samples.query_raw(tenant, &query).await?;
        Ok(RawPage { metric: filter.metric, start, end, result })
    }
}
