//! [`RollupStore`] on MariaDB: `rollup_1m` and `rollup_5m`, clustered on (series, bucket
//! start) like `samples`. Buckets are upserted in key order, so concurrent writers lock rows in
//! the same order.

use async_trait::async_trait;
use microdash_domain::{Resolution, TenantId, Timestamp};
use microdash_usecases::ports::{RollupStore, SeriesBucket, SeriesBuckets, SeriesId, StoreError};
use sqlx::AssertSqlSafe;

use super::series_reader::owned_ids;
use super::{MariaDbStore, to_i64};
use crate::error::SqlxResultExt;
use crate::stored::SERIES_PER_STATEMENT;
use crate::stored::buckets::{BucketRow, bucket_columns, bucket_table, group_buckets};
use crate::stored::repeated_sql;

/// Buckets per multi-row upsert: 8,000 placeholders, well below the protocol's 65,535.
const CHUNK_ROWS: usize = 1_000;

/// Folding raw samples into 1-minute buckets where they are: one row per bucket instead of
/// one per sample. The last value is looked up by its time (one key lookup per bucket).
const FOLD_RAW_HEAD: &str = "SELECT g.series_id, g.bucket, g.cnt, g.sum_v, g.min_v, g.max_v, \
     (SELECT l.value FROM samples l WHERE l.series_id = g.series_id AND l.ts = g.last_at) AS last_v, g.last_at \
     FROM (SELECT series_id, ts - MOD(MOD(ts, 60000) + 60000, 60000) AS bucket, COUNT(*) AS cnt, \
     SUM(value) AS sum_v, MIN(value) AS min_v, MAX(value) AS max_v, MAX(ts) AS last_at \
     FROM samples WHERE ts >= ? AND ts < ? AND series_id IN (";

/// The end of [`FOLD_RAW_HEAD`] after the (already owned) series ids.
const FOLD_RAW_TAIL: &str = ") GROUP BY series_id, bucket) g ORDER BY g.series_id, g.bucket";

#[async_trait]
impl RollupStore for MariaDbStore {
    async fn folded_until(&self, tenant: TenantId) -> Result<Timestamp, StoreError> {
        let folded: Option<i64> =
            sqlx::query_scalar("SELECT folded_until FROM rollup_progress WHERE tenant_id = ?")
                .bind(tenant.get())
                .fetch_optional(&self.pool)
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
        // Ownership first, then IN list + range on the key (see `series_reader`).
        let mut conn = self.pool.acquire().await.or_store("starting a read")?;
        let owned = owned_ids(&mut conn, tenant, series).await?;
        let (start, end) = (start.as_millis(), end.as_millis());
        let mut rows: Vec<BucketRow> = Vec::new();
        match limit_per_series {
            Some(limit) => {
                let sql = format!(
                    "SELECT {} FROM {table} WHERE series_id = ? AND bucket BETWEEN ? AND ? ORDER BY bucket LIMIT ?",
                    bucket_columns!()
                );
                for id in &owned {
                    let found: Vec<BucketRow> = sqlx::query_as(AssertSqlSafe(sql.clone()))
                        .bind(id.0)
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
                for group in owned.chunks(SERIES_PER_STATEMENT) {
                    let head = format!(
                        "SELECT {} FROM {table} WHERE bucket BETWEEN ? AND ? AND series_id IN (",
                        bucket_columns!()
                    );
                    let sql = repeated_sql(&head, "?", group.len(), ") ORDER BY series_id, bucket");
                    let mut q = sqlx::query_as::<_, BucketRow>(AssertSqlSafe(sql)).bind(start).bind(end);
                    for id in group {
                        q = q.bind(id.0);
                    }
                    rows.extend(q.fetch_all(&mut *conn).await.or_store("reading buckets")?);
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
        let mut conn = self.pool.acquire().await.or_store("starting a read")?;
        let owned = owned_ids(&mut conn, tenant, series).await?;
        let mut rows: Vec<BucketRow> = Vec::new();
        for group in owned.chunks(SERIES_PER_STATEMENT) {
            let sql = repeated_sql(FOLD_RAW_HEAD, "?", group.len(), FOLD_RAW_TAIL);
            let mut q = sqlx::query_as::<_, BucketRow>(AssertSqlSafe(sql))
                .bind(from.as_millis())
                .bind(to.as_millis());
            for id in group {
                q = q.bind(id.0);
            }
            rows.extend(q.fetch_all(&mut *conn).await.or_store("folding samples")?);
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
        let mut tx = self.pool.begin().await.or_store("starting to write buckets")?;
        let mut ids: Vec<SeriesId> = buckets.iter().map(|b| b.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let owned: std::collections::HashSet<SeriesId> =
            owned_ids(&mut tx, tenant, &ids).await?.into_iter().collect();
        let mut mine: Vec<&SeriesBucket> = buckets.iter().filter(|b| owned.contains(&b.0)).collect();
        mine.sort_by_key(|b| (b.0, b.1));
        for chunk in mine.chunks(CHUNK_ROWS) {
            let head = format!("INSERT INTO {table} ({}) VALUES ", bucket_columns!());
            let sql = repeated_sql(
                &head,
                "(?,?,?,?,?,?,?,?)",
                chunk.len(),
                " ON DUPLICATE KEY UPDATE cnt = VALUES(cnt), sum_v = VALUES(sum_v), min_v = VALUES(min_v), \
                 max_v = VALUES(max_v), last_v = VALUES(last_v), last_at = VALUES(last_at)",
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
