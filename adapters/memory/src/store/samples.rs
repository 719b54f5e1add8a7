use async_trait::async_trait;
use microdash_domain::{MetricName, Sample, TenantId, Timestamp};
use microdash_usecases::ports::{Inserted, RawQuery, RawQueryResult, RawSeries, SampleStore, StoreError};

use super::MemoryStore;

#[async_trait]
impl SampleStore for MemoryStore {
    async fn insert_batch(&self, tenant: TenantId, batch: &[Sample]) -> Result<Inserted, StoreError> {
        let mut t = self.write();
        let mut inserted = Inserted::default();
        for (i, s) in batch.iter().enumerate() {
            if let Some(id) = &s.dedupe_id
                && !t.dedupe.insert((tenant, id.clone()))
            {
                inserted.duplicates.push(i);
                continue;
            }
            let series = t.series.entry(tenant).or_default().entry(s.series.clone()).or_default();
            series.insert(s.timestamp.as_millis(), s.value);
            inserted.stored += 1;
        }
        Ok(inserted)
    }

    async fn query_raw(&self, tenant: TenantId, q: &RawQuery) -> Result<RawQueryResult, StoreError> {
        let t = self.read();
        let Some(all) = t.series.get(&tenant) else {
            return Ok(RawQueryResult::default());
        };
        let matching: Vec<_> = all
            .iter()
            .filter(|(k, _)| {
                k.metric == q.metric && q.agent.as_ref().is_none_or(|a| k.agent.as_ref() == Some(a))
            })
            .collect();
        // (ts, series position, value), earliest first.
        let mut points: Vec<(i64, usize, f64)> = matching
            .iter()
            .enumerate()
            .flat_map(|(i, (_, pts))| {
                pts.range(q.start.as_millis()..=q.end.as_millis()).map(move |(ts, v)| (*ts, i, *v))
            })
            .collect();
        points.sort_by_key(|p| (p.0, p.1));
        let total = points.len() as u64;
        points.truncate(q.limit);
        let mut series: Vec<RawSeries> = Vec::new();
        for (i, (key, _)) in matching.iter().enumerate() {
            let pts: Vec<_> =
                points.iter().filter(|p| p.1 == i).map(|p| (Timestamp::from_millis(p.0), p.2)).collect();
            if !pts.is_empty() {
                series.push(RawSeries { agent: key.agent.clone(), tags: key.tags.clone(), points: pts });
            }
        }
        let truncated = total > points.len() as u64;
        Ok(RawQueryResult { series, total, truncated })
    }

    async fn metric_names(&self, tenant: TenantId) -> Result<Vec<MetricName>, StoreError> {
        let t = self.read();
        let mut names: Vec<MetricName> =
            t.series.get(&tenant).map(|m| m.keys().map(|k| k.metric.clone()).collect()).unwrap_or_default();
        names.dedup();
        Ok(names)
    }
}
