use async_trait::async_trait;
use microdash_domain::rollup::{FIVE_MINUTES_MS, MINUTE_MS, bucket_start, fold, fold_into_buckets};
use microdash_domain::{Resolution, TenantId, Timestamp};
use microdash_usecases::ports::{
    DirtyBucket, FoldRange, RollupProgress, RollupStore, SeriesBucket, SeriesBuckets, SeriesId, StoreError,
};

use super::{MemoryStore, Progress};

#[async_trait]
impl RollupStore for MemoryStore {
    async fn folded_until(&self, tenant: TenantId) -> Result<Timestamp, StoreError> {
        Ok(Timestamp::from_millis(self.read().progress.get(&tenant).map_or(0, |p| p.folded)))
    }

    async fn read_buckets(
        &self,
        tenant: TenantId,
        resolution: Resolution,
        series: &[SeriesId],
        start: Timestamp,
        end: Timestamp,
        limit_per_series: Option<usize>,
    ) -> Result<Vec<SeriesBuckets>, StoreError> {
        let t = self.read();
        let buckets = t.buckets(resolution)?;
        let mut out = Vec::new();
        if start > end {
            return Ok(out);
        }
        for id in series {
            if t.owned(tenant, *id).is_none() {
                continue;
            }
            let found: Vec<_> = buckets
                .range((id.0, start.as_millis())..=(id.0, end.as_millis()))
                .take(limit_per_series.unwrap_or(usize::MAX))
                .map(|(&(_, at), b)| (Timestamp::from_millis(at), *b))
                .collect();
            if !found.is_empty() {
                out.push((*id, found));
            }
        }
        Ok(out)
    }

    async fn fold_raw(
        &self,
        tenant: TenantId,
        series: &[SeriesId],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<SeriesBuckets>, StoreError> {
        let t = self.read();
        let mut out = Vec::new();
        if from >= to {
            return Ok(out);
        }
        for id in series {
            let Some(s) = t.owned(tenant, *id) else { continue };
            let points = s
                .points
                .range(from.as_millis()..to.as_millis())
                .map(|(ts, v)| (Timestamp::from_millis(*ts), *v));
            let buckets: Vec<_> = fold_into_buckets(points, MINUTE_MS).into_iter().collect();
            if !buckets.is_empty() {
                out.push((*id, buckets));
            }
        }
        Ok(out)
    }

    async fn write_buckets(
        &self,
        tenant: TenantId,
        resolution: Resolution,
        buckets: &[SeriesBucket],
    ) -> Result<(), StoreError> {
        let mut t = self.write();
        t.buckets(resolution)?;
        let owned: Vec<_> =
            buckets.iter().filter(|(id, _, _)| t.owned(tenant, *id).is_some()).copied().collect();
        let table = t.buckets_mut(resolution)?;
        for (id, at, b) in owned {
            table.insert((id.0, at.as_millis()), b);
        }
        Ok(())
    }
}

#[async_trait]
impl RollupProgress for MemoryStore {
    async fn close_until(&self, tenant: TenantId, target: Timestamp) -> Result<FoldRange, StoreError> {
        let mut t = self.write();
        let p = t
            .progress
            .entry(tenant)
            .or_insert(Progress { folded: target.as_millis(), closing: target.as_millis() });
        p.closing = p.closing.max(target.as_millis());
        Ok(FoldRange { from: Timestamp::from_millis(p.folded), to: Timestamp::from_millis(p.closing) })
    }

    async fn mark_folded(&self, tenant: TenantId, until: Timestamp) -> Result<(), StoreError> {
        if let Some(p) = self.write().progress.get_mut(&tenant) {
            p.folded = p.folded.max(until.as_millis().min(p.closing));
        }
        Ok(())
    }

    async fn dirty_buckets(&self, tenant: TenantId, max: usize) -> Result<Vec<DirtyBucket>, StoreError> {
        let t = self.read();
        let mut found: Vec<DirtyBucket> = t
            .dirty
            .range((tenant, i64::MIN, i64::MIN)..=(tenant, i64::MAX, i64::MAX))
            .map(|(&(_, series, minute), &version)| DirtyBucket {
                series: SeriesId(series),
                minute: Timestamp::from_millis(minute),
                version,
            })
            .collect();
        found.sort_by_key(|d| (d.minute, d.series));
        found.truncate(max);
        Ok(found)
    }

    async fn clear_dirty(&self, tenant: TenantId, buckets: &[DirtyBucket]) -> Result<(), StoreError> {
        let mut t = self.write();
        for d in buckets {
            let key = (tenant, d.series.0, d.minute.as_millis());
            if t.dirty.get(&key) == Some(&d.version) {
                t.dirty.remove(&key);
            }
        }
        Ok(())
    }

    async fn absorb_late(&self, tenant: TenantId, buckets: &[DirtyBucket]) -> Result<u64, StoreError> {
        let mut t = self.write();
        let mut absorbed = 0;
        for d in buckets {
            let key = (tenant, d.series.0, d.minute.as_millis());
            if t.dirty.get(&key) != Some(&d.version) {
                continue;
            }
            t.dirty.remove(&key);
            let minute = d.minute.as_millis();
            let Some(series) = t.series.get_mut(&d.series.0).filter(|s| s.tenant == tenant) else { continue };
            let taken: Vec<(i64, f64)> =
                series.points.range(minute..minute + MINUTE_MS).map(|(k, v)| (*k, *v)).collect();
            for (ts, _) in &taken {
                series.points.remove(ts);
            }
            let Some(delta) = fold(taken.iter().map(|&(ts, v)| (Timestamp::from_millis(ts), v))) else {
                continue;
            };
            absorbed += taken.len() as u64;
            let five = bucket_start(d.minute, FIVE_MINUTES_MS).as_millis();
            t.one_minute.entry((d.series.0, minute)).and_modify(|b| b.merge(&delta)).or_insert(delta);
            t.five_minutes.entry((d.series.0, five)).and_modify(|b| b.merge(&delta)).or_insert(delta);
        }
        Ok(absorbed)
    }
}
