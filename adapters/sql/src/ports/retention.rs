//! [`RetentionStore`]. Each call is one autocommitted `DELETE` of at most `max_rows` rows,
//! found as a range of the primary key per series, so a writer waits for (and MariaDB holds
//! row locks for) one small chunk at most; groups of series are walked in id order and the
//! cursor is the first id of the group to continue with.
//!
//! Large MariaDB installations would rather `PARTITION BY RANGE (ts)` and drop whole days;
//! that needs every tenant's raw retention to be a whole number of partitions, and is not done
//! here.

use async_trait::async_trait;
use microdash_domain::{Resolution, TenantId, Timestamp};
use microdash_usecases::ports::{Expired, Expiring, ExpiryCursor, RetentionStore, StoreError};
use sqlx::AssertSqlSafe;

use super::{DIALECT, Store};
use crate::dialect::repeated_sql;
use crate::error::SqlxResultExt;
use crate::stored::buckets::bucket_table;
use crate::stored::to_i64;

/// Series per delete statement.
const SERIES_PER_DELETE: usize = 200;

#[async_trait]
impl RetentionStore for Store {
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
            let sql = DIALECT.delete_limited("dedupe", "tenant_id, dedupe_id", "tenant_id = ? AND ts < ?");
            let done = sqlx::query(AssertSqlSafe(sql))
                .bind(tenant.get())
                .bind(before.as_millis())
                .bind(to_i64(max_rows))
                .execute(&self.write)
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
                .fetch_all(&self.read)
                .await
                .or_store("listing series to expire")?;
        let mut deleted = 0;
        for group in ids.chunks(SERIES_PER_DELETE) {
            let mut q = sqlx::query(AssertSqlSafe(delete_sql(table, key, keep_dirty, group.len())))
                .bind(before.as_millis());
            if keep_dirty {
                q = q.bind(tenant.get());
            }
            for id in group {
                q = q.bind(id);
            }
            let remaining = max_rows - deleted;
            let done = q.bind(to_i64(remaining)).execute(&self.write).await.or_store("expiring data")?;
            deleted += done.rows_affected() as usize;
            if deleted == max_rows {
                return Ok(Expired { deleted: deleted as u64, next: Some(ExpiryCursor(group[0])) });
            }
        }
        Ok(Expired { deleted: deleted as u64, next: None })
    }
}

/// A chunk's `DELETE` from `table`, whose key is (series, `key`): binds `before`, then the
/// tenant when `keep_dirty`, then the `n` series ids, then the most rows to delete.
pub(crate) fn delete_sql(table: &str, key: &str, keep_dirty: bool, n: usize) -> String {
    // Raw samples of a minute marked dirty stay until it is folded again.
    let dirty = if keep_dirty {
        format!(
            " AND NOT EXISTS (SELECT 1 FROM rollup_dirty d WHERE d.tenant_id = ? \
             AND d.series_id = {table}.series_id AND d.minute = {table}.{key} - {table}.{key} % 60000)"
        )
    } else {
        String::new()
    };
    let condition =
        repeated_sql(&format!("{table}.{key} < ?{dirty} AND {table}.series_id IN ("), "?", n, ")");
    DIALECT.delete_limited(table, &format!("series_id, {key}"), &condition)
}
