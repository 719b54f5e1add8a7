use std::collections::BTreeSet;

use async_trait::async_trait;
use microdash_domain::{AgentId, MetricName, TenantId, Timestamp};
use microdash_usecases::ports::{
    SeriesFilter, SeriesId, SeriesPoints, SeriesReader, StoreError, StoredSeries,
};

use super::MemoryStore;

#[async_trait]
impl SeriesReader for MemoryStore {
    async fn series(&self, tenant: TenantId, filter: &SeriesFilter) -> Result<Vec<StoredSeries>, StoreError> {
        let t = self.read();
        let mut found: Vec<StoredSeries> = t
            .series
            .iter()
            .filter(|(_, s)| s.tenant == tenant && filter.matches(&s.key))
            .map(|(id, s)| StoredSeries { id: SeriesId(*id), key: s.key.clone() })
            .collect();
        found.sort_by(|a, b| (&a.key.agent, &a.key.tags).cmp(&(&b.key.agent, &b.key.tags)));
        Ok(found)
    }

    async fn series_ids(&self, tenant: TenantId) -> Result<Vec<SeriesId>, StoreError> {
        let t = self.read();
        Ok(t.series.iter().filter(|(_, s)| s.tenant == tenant).map(|(id, _)| SeriesId(*id)).collect())
    }

    async fn read_points(
        &self,
        tenant: TenantId,
        series: &[SeriesId],
        start: Timestamp,
        end: Timestamp,
        limit_per_series: Option<usize>,
    ) -> Result<Vec<SeriesPoints>, StoreError> {
        let t = self.read();
        let mut out = Vec::new();
        if start > end {
            return Ok(out);
        }
        for id in series {
            let Some(s) = t.owned(tenant, *id) else { continue };
            let points: Vec<_> = s
                .points
                .range(start.as_millis()..=end.as_millis())
                .take(limit_per_series.unwrap_or(usize::MAX))
                .map(|(ts, v)| (Timestamp::from_millis(*ts), *v))
                .collect();
            if !points.is_empty() {
                out.push((*id, points));
            }
        }
        Ok(out)
    }

    async fn agent_metrics(
        &self,
        tenant: TenantId,
        agent: Option<AgentId>,
    ) -> Result<Vec<(AgentId, MetricName)>, StoreError> {
        let t = self.read();
        let pairs: BTreeSet<(AgentId, MetricName)> = t
            .series
            .values()
            .filter(|s| s.tenant == tenant)
            .filter_map(|s| Some((s.key.agent.clone()?, s.key.metric.clone())))
            .filter(|(a, _)| agent.as_ref().is_none_or(|x| x == a))
            .collect();
        Ok(pairs.into_iter().collect())
    }
}
