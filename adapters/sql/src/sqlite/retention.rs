//! [`RetentionStore`] on SQLite. Each call is one `DELETE` of at most `max_rows` rows on the
//! single writer, so an ingest batch waits for one small chunk at most; groups of series are
//! walked in id order and the cursor is the first id of the group to continue with.

use async_trait::async_trait;
use microdash_domain::{TenantId, Timestamp};
use microdash_usecases::ports::{Expired, Expiring, ExpiryCursor, RetentionStore, StoreError};
use sqlx::AssertSqlSafe;

use super::{SqliteStore, to_i64};
use crate::error::SqlxResultExt;
use crate::stored::buckets::bucket_table;
use crate::stored::repeated_sql;

/// Series per delete statement.
const SERIES_PER_DELETE: usize = 200;

#[async_trait]
impl RetentionStore for SqliteStore {
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
            let done = sqlx::query(
                "DELETE FROM dedupe WHERE (tenant_id, dedupe_id) IN \
                 (SELECT tenant_id, dedupe_id FROM dedupe WHERE tenant_id = ?1 AND ts < ?2 LIMIT ?3)",
            )
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
            Expiring::OneMinute => (bucket_table(microdash_domain::Resolution::OneMinute)?, "bucket", false),
            _ => (bucket_table(microdash_domain::Resolution::FiveMinutes)?, "bucket", false),
        };
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM series WHERE tenant_id = ?1 AND id >= ?2 ORDER BY id")
                .bind(tenant.get())
                .bind(cursor.map_or(i64::MIN, |c| c.0))
                .fetch_all(&self.read)
                .await
                .or_store("listing series to expire")?;
        let mut deleted = 0;
        for group in ids.chunks(SERIES_PER_DELETE) {
            let sql = delete_sql(table, key, keep_dirty, group.len());
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(before.as_millis());
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

/// A chunk's `DELETE`: binds `before`, then the tenant when `keep_dirty`, then the `n` series
/// ids, then the most rows to delete.
fn delete_sql(table: &str, key: &str, keep_dirty: bool, n: usize) -> String {
    // Raw samples of a minute marked dirty stay until it is folded again.
    let dirty = if keep_dirty {
        " AND NOT EXISTS (SELECT 1 FROM rollup_dirty d WHERE d.tenant_id = ? AND d.series_id = x.series_id \
         AND d.minute = x.ts - x.ts % 60000)"
    } else {
        ""
    };
    let head = format!(
        "DELETE FROM {table} WHERE (series_id, {key}) IN (SELECT x.series_id, x.{key} FROM {table} x \
         WHERE x.{key} < ?{dirty} AND x.series_id IN ("
    );
    repeated_sql(&head, "?", n, ") LIMIT ?)")
}

#[cfg(test)]
mod tests {
    use sqlx::AssertSqlSafe;

    use crate::sqlite::{SqliteOptions, SqliteStore};

    /// A chunk must find its rows through the `samples` key, one series' range at a time, and
    /// delete them by key: a scan of the whole table would make every chunk as slow as the
    /// table is large, holding the writer all along.
    #[tokio::test]
    async fn a_raw_chunk_deletes_through_the_samples_key() {
        let store =
            SqliteStore::connect(&SqliteOptions { url: "sqlite::memory:".into(), read_connections: 1 })
                .await
                .unwrap();
        let sql = format!("EXPLAIN QUERY PLAN {}", super::delete_sql("samples", "ts", true, 2));
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(1_i64)
            .bind(1_i64)
            .bind(1_i64)
            .bind(2_i64)
            .bind(10_i64)
            .fetch_all(&store.write)
            .await
            .unwrap();
        let plan: Vec<String> = plan.into_iter().map(|row| row.3).collect();
        assert!(!plan.iter().any(|p| p.starts_with("SCAN")), "{plan:?}");
        assert!(
            plan.iter().any(|p| p.starts_with("SEARCH x USING PRIMARY KEY (series_id=? AND ts<?)")),
            "{plan:?}"
        );
        assert!(plan.iter().any(|p| p.starts_with("SEARCH samples USING PRIMARY KEY")), "{plan:?}");
    }
}
