//! [`RetentionStore`] on MariaDB. Each call is one autocommitted `DELETE .. LIMIT` of at most
//! `max_rows` rows, a range scan per series of the primary key, so row locks are held for one
//! small chunk; groups of series are walked in id order and the cursor is the first id of the
//! group to continue with.
//!
//! Large installations would rather `PARTITION BY RANGE (ts)` and drop whole days; that needs
//! every tenant's raw retention to be a whole number of partitions, and is not done here.

use async_trait::async_trait;
use microdash_domain::{Resolution, TenantId, Timestamp};
use microdash_usecases::ports::{Expired, Expiring, ExpiryCursor, RetentionStore, StoreError};
use sqlx::AssertSqlSafe;

use super::{MariaDbStore, to_i64};
use crate::error::SqlxResultExt;
use crate::stored::buckets::bucket_table;
use crate::stored::repeated_sql;

/// Series per delete statement.
const SERIES_PER_DELETE: usize = 200;

#[async_trait]
impl RetentionStore for MariaDbStore {
    async fn delete_expired(
        &self,
        tenant: TenantId,
        what: Expiring,
        before: Timestamp,
        cursor: Option<ExpiryCursor>,
        max_rows: usize,
    ) -> Result<Expired, StoreError> {
        let max_rows = max_rows.max(1);
        if what == Expiring::DedupeIds {
            let done = sqlx::query("DELETE FROM dedupe WHERE tenant_id = ? AND ts < ? LIMIT ?")
                .bind(tenant.get())
                .bind(before.as_millis())
                .bind(to_i64(max_rows))
                .execute(&self.pool)
                .await
                .or_store("expiring dedupe ids")?;
            let deleted = done.rows_affected();
            let next = (deleted as usize == max_rows).then_some(ExpiryCursor(0));
            return Ok(Expired { deleted, next });
        }
        let (table, key, keep_dirty) = match what {
            Expiring::Raw => ("samples", "ts", true),
            Expiring::OneMinute => (bucket_table(Resolution::OneMinute)?, "bucket", false),
            _ => (bucket_table(Resolution::FiveMinutes)?, "bucket", false),
        };
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM series WHERE tenant_id = ? AND id >= ? ORDER BY id")
                .bind(tenant.get())
                .bind(cursor.map_or(i64::MIN, |c| c.0))
                .fetch_all(&self.pool)
                .await
                .or_store("listing series to expire")?;
        let mut deleted = 0;
        for group in ids.chunks(SERIES_PER_DELETE) {
            // Raw samples of a minute marked dirty stay until it is folded again.
            let dirty = if keep_dirty {
                " AND NOT EXISTS (SELECT 1 FROM rollup_dirty d WHERE d.tenant_id = ? \
                 AND d.series_id = samples.series_id AND d.minute = samples.ts - MOD(samples.ts, 60000))"
            } else {
                ""
            };
            let head = format!("DELETE FROM {table} WHERE {key} < ?{dirty} AND series_id IN (");
            let sql = repeated_sql(&head, "?", group.len(), ") LIMIT ?");
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(before.as_millis());
            if keep_dirty {
                q = q.bind(tenant.get());
            }
            for id in group {
                q = q.bind(id);
            }
            let remaining = max_rows - deleted;
            let done = q.bind(to_i64(remaining)).execute(&self.pool).await.or_store("expiring data")?;
            deleted += done.rows_affected() as usize;
            if deleted == max_rows {
                return Ok(Expired { deleted: deleted as u64, next: Some(ExpiryCursor(group[0])) });
            }
        }
        Ok(Expired { deleted: deleted as u64, next: None })
    }
}
