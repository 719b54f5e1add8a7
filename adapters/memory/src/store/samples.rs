use async_trait::async_trait;
use microdash_domain::{MetricName, Sample, TenantId, Timestamp};
use microdash_usecases::ports::{
    Inserted, RawQuery, RawQueryResult, RawSeries, SampleStore, SeriesFilter, StoreError,
};

use super::{MemSeries, MemoryStore};

#[async_trait]
impl SampleStore for MemoryStore {
    async fn insert_batch(&self, tenant: TenantId, batch: &[Sample]) -> Result<Inserted, StoreError> {
        let mut t = self.write();
        let mut inserted = Inserted::default();
        for (i, s) in batch.iter().enumerate() {
            if let Some(id) = &s.dedupe_id {
                if t.dedupe.contains_key(&(tenant, id.clone())) {
                    inserted.duplicates.push(i);
                    continue;
                }
                t.dedupe.insert((tenant, id.clone()), s.timestamp.as_millis());
            }
            let key = (tenant, s.series.clone());
            let id = match t.index.get(&key) {
                Some(&id) => id,
                None => {
                    let id = t.next_id();
                    t.series
                        .insert(id, MemSeries { tenant, key: s.series.clone(), points: Default::default() });
                    t.index.insert(key, id);
                    id
                }
            };
            let ts = s.timestamp.as_millis();
            if let Some(series) = t.series.get_mut(&id) {
                series.points.insert(ts, s.value);
            }
            t.mark_if_late(tenant, id, ts);
            inserted.stored += 1;
        }
        Ok(inserted)
    }

    async fn query_raw(&self, tenant: TenantId, q: &RawQuery) -> Result<RawQueryResult, StoreError> {
        let t = self.read();
        if q.start > q.end {
            return Ok(RawQueryResult::default());
        }
        let filter = SeriesFilter { metric: q.metric.clone(), agent: q.agent.clone(), tags: q.tags.clone() };
        let mut matching: Vec<&MemSeries> =
            t.series.values().filter(|s| s.tenant == tenant && filter.matches(&s.key)).collect();
        matching.sort_by(|a, b| a.key.cmp(&b.key));
        // (ts, series position, value), earliest first.
        let mut points: Vec<(i64, usize, f64)> = matching
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                s.points.range(q.start.as_millis()..=q.end.as_millis()).map(move |(ts, v)| (*ts, i, *v))
            })
            .collect();
        points.sort_by_key(|p| (p.0, p.1));
        let total = points.len() as u64;
        points.truncate(q.limit);
        let mut series: Vec<RawSeries> = Vec::new();
        for (i, s) in matching.iter().enumerate() {
            let pts: Vec<_> =
                points.iter().filter(|p| p.1 == i).map(|p| (Timestamp::from_millis(p.0), p.2)).collect();
            if !pts.is_empty() {
                series.push(RawSeries { agent: s.key.agent.clone(), tags: s.key.tags.clone(), points: pts });
            }
        }
        let truncated = total > points.len() as u64;
        Ok(RawQueryResult { series, total, truncated })
    }

    async fn metric_names(&self, tenant: TenantId) -> Result<Vec<MetricName>, StoreError> {
        let t = self.read();
        let mut names: Vec<MetricName> =
            t.series.values().filter(|s| s.tenant == tenant).map(|s| s.key.metric.clone()).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}
