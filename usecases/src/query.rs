//! Reading back: raw points, metric names and agents, always of the caller's tenant only.

use std::time::Duration;

use microdash_domain::{AgentId, MetricName, TenantId, Timestamp};

use crate::ports::{
    AgentInfo, AgentRegistryRef, ClockRef, RawQuery, RawQueryResult, SampleStoreRef, StoreError,
};

/// Default window when a query gives no `start`: the last hour, what a dashboard opens on.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);
/// Default most points per reply.
pub const DEFAULT_LIMIT: usize = 10_000;
/// Largest `limit` accepted: a reply stays a few MB.
pub const MAX_LIMIT: usize = 100_000;

/// A raw query as the client states it; all optional but the name.
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

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A parameter is wrong.
    #[error("{field}: {message}")]
    InvalidParameter {
        /// The parameter.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The resolved range and the points.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutcome {
    /// The metric queried.
    pub metric: MetricName,
    /// Inclusive start used.
    pub start: Timestamp,
    /// Inclusive end used.
    pub end: Timestamp,
    /// The points.
    pub result: RawQueryResult,
}

/// Read-side use cases.
pub struct QueryService {
    samples: SampleStoreRef,
    agents: AgentRegistryRef,
    clock: ClockRef,
}

impl QueryService {
    /// Builds the service.
    pub fn new(samples: SampleStoreRef, agents: AgentRegistryRef, clock: ClockRef) -> Self {
        Self { samples, agents, clock }
    }

    /// Raw points of one metric over a range.
    ///
    /// # Errors
    /// [`QueryError::InvalidParameter`] naming the parameter; [`QueryError::Store`].
    #[tracing::instrument(name = "query.raw", skip_all, fields(tenant = %tenant, metric = %params.name))]
    pub async fn query_raw(
        &self,
        tenant: TenantId,
        params: RawQueryParams,
    ) -> Result<QueryOutcome, QueryError> {
        let invalid = |field, message: String| QueryError::InvalidParameter { field, message };
        let metric = MetricName::new(params.name).map_err(|e| invalid("name", e.message))?;
        let agent =
            params.agent_id.map(AgentId::new).transpose().map_err(|e| invalid("agent_id", e.message))?;
        let end = params.end.unwrap_or_else(|| self.clock.now());
        let start = params.start.unwrap_or(end.plus_millis(-(DEFAULT_WINDOW.as_millis() as i64)));
        if start > end {
            return Err(invalid("start", format!("start ({start}) is after end ({end})")));
        }
        let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(invalid("limit", format!("must be between 1 and {MAX_LIMIT}")));
        }
        let query = RawQuery { metric: metric.clone(), agent, start, end, limit };
        let result = self.samples.query_raw(tenant, &query).await?;
        Ok(QueryOutcome { metric, start, end, result })
    }

    /// The tenant's metric names.
    ///
    /// # Errors
    /// [`QueryError::Store`].
    pub async fn metric_names(&self, tenant: TenantId) -> Result<Vec<MetricName>, QueryError> {
        Ok(self.samples.metric_names(tenant).await?)
    }

    /// The tenant's agents.
    ///
    /// # Errors
    /// [`QueryError::Store`].
    pub async fn agents(&self, tenant: TenantId) -> Result<Vec<AgentInfo>, QueryError> {
        Ok(self.agents.list(tenant).await?)
    }
}
