use async_trait::async_trait;
use microdash_domain::rollup::{MINUTE_MS, bucket_start};
use microdash_domain::{TenantId, Timestamp};
use microdash_usecases::ports::{Expired, Expiring, ExpiryCursor, RetentionStore, StoreError};

use super::MemoryStore;

#[async_trait]
impl RetentionStore for MemoryStore {
    async fn delete_expired(
        &self,
        tenant: TenantId,
        what: Expiring,
        before: Timestamp,
        cursor: Option<ExpiryCursor>,
        max_rows: usize,
    ) -> Result<Expired, StoreError> {
        let max_rows = max_rows.max(1);
        let mut t = self.write();
        let before = before.as_millis();
        let from = cursor.map_or(i64::MIN, |c| c.0);
        let mut deleted = 0usize;
        match what {
            Expiring::DedupeIds => {
                let expired: Vec<_> = t
                    .dedupe
                    .iter()
                    .filter(|((owner, _), ts)| *owner == tenant && **ts < before)
                    .map(|(k, _)| k.clone())
                    .take(max_rows)
                    .collect();
                for k in &expired {
                    t.dedupe.remove(k);
                }
                deleted = expired.len();
            }
            Expiring::Raw => {
                let ids: Vec<i64> =
                    t.series.range(from..).filter(|(_, s)| s.tenant == tenant).map(|(id, _)| *id).collect();
                for id in ids {
                    let dirty: Vec<i64> = t
                        .dirty
                        .range((tenant, id, i64::MIN)..=(tenant, id, i64::MAX))
                        .map(|(&(_, _, minute), _)| minute)
                        .collect();
                    let Some(series) = t.series.get_mut(&id) else { continue };
                    let expired: Vec<i64> = series
                        .points
                        .range(..before)
                        .map(|(ts, _)| *ts)
                        .filter(|ts| {
                            !dirty.contains(&bucket_start(Timestamp::from_millis(*ts), MINUTE_MS).as_millis())
                        })
                        .take(max_rows - deleted)
                        .collect();
                    for ts in &expired {
                        series.points.remove(ts);
                    }
                    deleted += expired.len();
                    if deleted == max_rows {
                        return Ok(Expired { deleted: deleted as u64, next: Some(ExpiryCursor(id)) });
                    }
                }
            }
            Expiring::OneMinute | Expiring::FiveMinutes => {
                let ids: Vec<i64> =
                    t.series.range(from..).filter(|(_, s)| s.tenant == tenant).map(|(id, _)| *id).collect();
                let table = if what == Expiring::OneMinute { &mut t.one_minute } else { &mut t.five_minutes };
                for id in ids {
                    let expired: Vec<_> = table
                        .range((id, i64::MIN)..(id, before))
                        .map(|(k, _)| *k)
                        .take(max_rows - deleted)
                        .collect();
                    for k in &expired {
                        table.remove(k);
                    }
                    deleted += expired.len();
                    if deleted == max_rows {
                        return Ok(Expired { deleted: deleted as u64, next: Some(ExpiryCursor(id)) });
                    }
                }
            }
        }
        let next = (what == Expiring::DedupeIds && deleted == max_rows).then_some(ExpiryCursor(0));
        Ok(Expired { deleted: deleted as u64, next })
    }
}
