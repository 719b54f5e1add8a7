use std::time::Duration;

use async_trait::async_trait;
use microdash_domain::agent_status::learn_interval;
use microdash_domain::{AgentId, TenantId};
use microdash_usecases::ports::{AgentInfo, AgentRegistry, AgentSeen, StoreError};

use super::MemoryStore;

#[async_trait]
impl AgentRegistry for MemoryStore {
    async fn record(&self, tenant: TenantId, seen: &[AgentSeen]) -> Result<(), StoreError> {
        let mut t = self.write();
        let agents = t.agents.entry(tenant).or_default();
        for s in seen {
            let e = agents.entry(s.agent.clone()).or_insert(AgentInfo {
                agent: s.agent.clone(),
                first_seen: s.received_at,
                last_seen: s.received_at,
                last_sample_at: s.last_sample_at,
                samples: 0,
                interval: None,
            });
            let gap = s.last_sample_at.as_millis() - e.last_sample_at.as_millis();
            let learnt = learn_interval(e.interval.map(|d| d.as_millis() as i64), gap);
            e.interval = learnt.map(|ms| Duration::from_millis(ms.max(0) as u64));
            e.first_seen = e.first_seen.min(s.received_at);
            e.last_seen = e.last_seen.max(s.received_at);
            e.last_sample_at = e.last_sample_at.max(s.last_sample_at);
            e.samples += s.samples;
        }
        Ok(())
    }

    async fn list(&self, tenant: TenantId) -> Result<Vec<AgentInfo>, StoreError> {
        Ok(self.read().agents.get(&tenant).map(|m| m.values().cloned().collect()).unwrap_or_default())
    }

    async fn find(&self, tenant: TenantId, agent: &AgentId) -> Result<Option<AgentInfo>, StoreError> {
        Ok(self.read().agents.get(&tenant).and_then(|m| m.get(agent)).cloned())
    }
}
