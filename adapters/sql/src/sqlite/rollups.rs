//! [`RollupStore`] on SQLite: `rollup_1m` and `rollup_5m`, keyed (series, bucket start) like
//! `samples`. Writes go through the single writer in multi-row upserts of [`CHUNK_ROWS`].

use async_trait::async_trait;
use microdash_domain::{Resolution, TenantId, Timestamp};
use microdash_usecases::ports::{RollupStore, SeriesBucket, SeriesBuckets, SeriesId, StoreError};
use sqlx::AssertSqlSafe;

use super::series_reader::owned_ids;
use super::{SqliteStore, to_i64};
use crate::error::SqlxResultExt;
use crate::stored::buckets::{BucketRow, bucket_columns, bucket_columns_of, bucket_table, group_buckets};
use crate::stored::{SERIES_PER_STATEMENT, repeated_sql};

/// Buckets per multi-row upsert: 4,000 parameters, well below SQLite's 32,766.
const CHUNK_ROWS: usize = 500;

/// Folding raw samples into 1-minute buckets where they are: one row per bucket instead of
/// one per sample. The last value is looked up by its time (one key lookup per bucket).
pub(super) const FOLD_RAW_HEAD: &str = "SELECT g.series_id, g.bucket, g.cnt, g.sum_v, g.min_v, g.max_v, \
     (SELECT l.value FROM samples l WHERE l.series_id = g.series_id AND l.ts = g.last_at) AS last_v, g.last_at \
     FROM (SELECT p.series_id, p.ts - ((p.ts % 60000) + 60000) % 60000 AS bucket, COUNT(*) AS cnt, SUM(p.value) AS sum_v, \
     MIN(p.value) AS min_v, MAX(p.value) AS max_v, MAX(p.ts) AS last_at \
     FROM series s JOIN samples p ON p.series_id = s.id WHERE s.tenant_id = ? AND s.id IN (";

/// The end of [`FOLD_RAW_HEAD`] after the series ids: binds the range `[from, to)`.
pub(super) const FOLD_RAW_TAIL: &str =
    ") AND p.ts >= ? AND p.ts < ? GROUP BY p.series_id, bucket) g ORDER BY g.series_id, g.bucket";

/// Buckets of a group of series: binds the tenant, then the `n` series ids, then the range.
fn buckets_sql(table: &str, n: usize) -> String {
    let head = format!(
        "SELECT {} FROM series s JOIN {table} b ON b.series_id = s.id WHERE s.tenant_id = ? AND s.id IN (",
        bucket_columns_of!("b.")
    );
    repeated_sql(&head, "?", n, ") AND b.bucket BETWEEN ? AND ? ORDER BY b.series_id, b.bucket")
}

#[async_trait]
impl RollupStore for SqliteStore {
    async fn folded_until(&self, tenant: TenantId) -> Result<Timestamp, StoreError> {
        let folded: Option<i64> =
            sqlx::query_scalar("SELECT folded_until FROM rollup_progress WHERE tenant_id = ?1")
                .bind(tenant.get())
                .fetch_optional(&self.read)
                .await
                .or_store("reading rollup progress")?;
        Ok(Timestamp::from_millis(folded.unwrap_or(0)))
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
        let table = bucket_table(resolution)?;
        // The join on `series` keeps other tenants' series out in the same statement.
        let mut conn = self.read.acquire().await.or_store("starting a read")?;
        let (start, end) = (start.as_millis(), end.as_millis());
        let mut rows: Vec<BucketRow> = Vec::new();
        match limit_per_series {
            Some(limit) => {
                let sql = format!(
                    "SELECT {} FROM series s JOIN {table} b ON b.series_id = s.id WHERE s.id = ?1 AND s.tenant_id = ?2 \
                     AND b.bucket BETWEEN ?3 AND ?4 ORDER BY b.bucket LIMIT ?5",
                    bucket_columns_of!("b.")
                );
                for id in series {
                    let found: Vec<BucketRow> = sqlx::query_as(AssertSqlSafe(sql.clone()))
                        .bind(id.0)
                        .bind(tenant.get())
                        .bind(start)
                        .bind(end)
                        .bind(to_i64(limit))
                        .fetch_all(&mut *conn)
                        .await
                        .or_store("reading buckets")?;
                    rows.extend(found);
                }
            }
            None => {
                for group in series.chunks(SERIES_PER_STATEMENT) {
                    let sql = buckets_sql(table, group.len());
                    let mut q = sqlx::query_as::<_, BucketRow>(AssertSqlSafe(sql)).bind(tenant.get());
                    for id in group {
                        q = q.bind(id.0);
                    }
                    rows.extend(
                        q.bind(start).bind(end).fetch_all(&mut *conn).await.or_store("reading buckets")?,
                    );
                }
            }
        }
        Ok(group_buckets(series, rows))
    }

    async fn fold_raw(
        &self,
        tenant: TenantId,
        series: &[SeriesId],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<SeriesBuckets>, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        let mut conn = self.read.acquire().await.or_store("starting a read")?;
        let mut rows: Vec<BucketRow> = Vec::new();
        for group in series.chunks(SERIES_PER_STATEMENT) {
            let sql = repeated_sql(FOLD_RAW_HEAD, "?", group.len(), FOLD_RAW_TAIL);
            let mut q = sqlx::query_as::<_, BucketRow>(AssertSqlSafe(sql)).bind(tenant.get());
            for id in group {
                q = q.bind(id.0);
            }
            rows.extend(
                q.bind(from.as_millis())
                    .bind(to.as_millis())
                    .fetch_all(&mut *conn)
                    .await
                    .or_store("folding samples")?,
            );
        }
        Ok(group_buckets(series, rows))
    }

    async fn write_buckets(
        &self,
        tenant: TenantId,
        resolution: Resolution,
        buckets: &[SeriesBucket],
    ) -> Result<(), StoreError> {
        let table = bucket_table(resolution)?;
        if buckets.is_empty() {
            return Ok(());
        }
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await.or_store("starting to write buckets")?;
        let mut ids: Vec<SeriesId> = buckets.iter().map(|b| b.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let owned: std::collections::HashSet<SeriesId> =
            owned_ids(&mut tx, tenant, &ids).await?.into_iter().collect();
        let mine: Vec<&SeriesBucket> = buckets.iter().filter(|b| owned.contains(&b.0)).collect();
        for chunk in mine.chunks(CHUNK_ROWS) {
            let head = format!("INSERT INTO {table} ({}) VALUES ", bucket_columns!());
            let sql = repeated_sql(
                &head,
                "(?,?,?,?,?,?,?,?)",
                chunk.len(),
                " ON CONFLICT (series_id, bucket) DO UPDATE SET cnt = excluded.cnt, sum_v = excluded.sum_v, \
                 min_v = excluded.min_v, max_v = excluded.max_v, last_v = excluded.last_v, last_at = excluded.last_at",
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (id, at, b) in chunk.iter().copied() {
                q = q
                    .bind(id.0)
                    .bind(at.as_millis())
                    .bind(to_i64(b.count))
                    .bind(b.sum)
                    .bind(b.min)
                    .bind(b.max)
                    .bind(b.last)
                    .bind(b.last_at.as_millis());
            }
            q.execute(&mut *tx).await.or_store("writing buckets")?;
        }
        tx.commit().await.or_store("committing buckets")
    }
}

#[cfg(test)]
mod tests {
    use sqlx::AssertSqlSafe;

    use super::buckets_sql;
    use crate::sqlite::{SqliteOptions, SqliteStore};

    /// Buckets are read as each series' range of the bucket table's key, never a scan.
    #[tokio::test]
    async fn buckets_are_read_through_the_bucket_key() {
        let store =
            SqliteStore::connect(&SqliteOptions { url: "sqlite::memory:".into(), read_connections: 1 })
                .await
                .unwrap();
        let sql = format!("EXPLAIN QUERY PLAN {}", buckets_sql("rollup_1m", 2));
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(1_i64)
            .bind(1_i64)
            .bind(2_i64)
            .bind(0_i64)
            .bind(10_i64)
            .fetch_all(&store.read)
            .await
            .unwrap();
        let plan: Vec<String> = plan.into_iter().map(|row| row.3).collect();
        assert!(
            plan.iter()
                .any(|p| p.starts_with("SEARCH b USING PRIMARY KEY (series_id=? AND bucket>? AND bucket<?)")),
            "{plan:?}"
        );
        assert!(!plan.iter().any(|p| p.starts_with("SCAN")), "{plan:?}");
    }
}
