//! The agents view: each agent with when it was last heard from, its learnt reporting
//! interval, whether it is online, and the metrics it reports.

use std::collections::BTreeMap;
use std::time::Duration;

use microdash_domain::agent_status::AgentStatus;
use microdash_domain::{AgentId, MetricName, TenantId};

use super::{QueryError, QueryService};
use crate::ports::AgentInfo;

/// Interval assumed for an agent seen only once so far: a client that posts once a minute
/// must not show as offline between its first two posts.
pub const DEFAULT_AGENT_INTERVAL: Duration = Duration::from_secs(60);

/// An agent as the agents view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentView {
    /// What the registry knows.
    pub info: AgentInfo,
    /// Online or offline now.
    pub status: AgentStatus,
    /// Metric names it reports, sorted.
    pub metrics: Vec<MetricName>,
}

impl QueryService {
    /// The tenant's agents, sorted by id.
    ///
    /// # Errors
    /// [`QueryError::Store`].
    #[tracing::instrument(name = "query.agents", skip_all, fields(tenant = %tenant))]
    pub async fn agents(&self, tenant: TenantId) -> Result<Vec<AgentView>, QueryError> {
        let list = self.agents.list(tenant).await?;
        let mut metrics: BTreeMap<AgentId, Vec<MetricName>> = BTreeMap::new();
        for (agent, metric) in self.history.series.agent_metrics(tenant, None).await? {
            metrics.entry(agent).or_default().push(metric);
        }
        Ok(list
            .into_iter()
            .map(|info| self.view(metrics.remove(&info.agent).unwrap_or_default(), info))
            .collect())
    }

    /// One agent of the tenant.
    ///
    /// # Errors
    /// [`QueryError::UnknownAgent`] when the tenant has none by that id (whatever other tenants
    /// have); [`QueryError::Store`].
    #[tracing::instrument(name = "query.agent", skip_all, fields(tenant = %tenant, agent = %id))]
    pub async fn agent(&self, tenant: TenantId, id: &str) -> Result<AgentView, QueryError> {
        let unknown = || QueryError::UnknownAgent(id.to_owned());
        let agent = AgentId::new(id).map_err(|_| unknown())?;
        let info = self.agents.find(tenant, &agent).await?.ok_or_else(unknown)?;
        let metrics = self.history.series.agent_metrics(tenant, Some(agent.clone())).await?;
        Ok(self.view(metrics.into_iter().map(|(_, m)| m).collect(), info))
    }

    fn view(&self, metrics: Vec<MetricName>, info: AgentInfo) -> AgentView {
        let status = AgentStatus::at(self.clock.now(), info.last_seen, info.interval, DEFAULT_AGENT_INTERVAL);
        AgentView { info, status, metrics }
    }
}
