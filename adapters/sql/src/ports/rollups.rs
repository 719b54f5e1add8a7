//! [`RollupStore`]: `rollup_1m` and `rollup_5m`, keyed (series, bucket start) like `samples`,
//! so a series' range of buckets is one range of the key. Buckets are upserted in key order,
//! so concurrent writers lock rows in the same order.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use microdash_domain::{Resolution, TenantId, Timestamp};
use microdash_usecases::ports::{RollupStore, SeriesBucket, SeriesBuckets, SeriesId, StoreError};
use sqlx::AssertSqlSafe;

use super::{DIALECT, SERIES_PER_STATEMENT, Store, listable, owned_ids, series_rows_from};
use crate::dialect::repeated_sql;
use crate::error::SqlxResultExt;
use crate::stored::buckets::{BucketRow, bucket_columns, bucket_columns_of, bucket_table, group_buckets};
use crate::stored::to_i64;

#[async_trait]
impl RollupStore for Store {
    async fn folded_until(&self, tenant: TenantId) -> Result<Timestamp, StoreError> {
        let folded: Option<i64> =
            sqlx::query_scalar("SELECT folded_until FROM rollup_progress WHERE tenant_id = ?")
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
        let mut conn = self.read.acquire().await.or_store("starting a read")?;
        let listed = listable(&mut conn, tenant, series).await?;
        let (start, end) = (start.as_millis(), end.as_millis());
        let mut rows: Vec<BucketRow> = Vec::new();
        match limit_per_series {
            Some(limit) => {
                let sql: Arc<str> = format!(
                    "{}?) AND b.bucket BETWEEN ? AND ? ORDER BY b.bucket LIMIT ?",
                    buckets_head(table)
                )
                .into();
                for id in listed.iter() {
                    let mut q = sqlx::query_as::<_, BucketRow>(AssertSqlSafe(Arc::clone(&sql)));
                    if DIALECT.joins_series() {
                        q = q.bind(tenant.get());
                    }
                    let found =
                        q.bind(id.0).bind(start).bind(end).bind(to_i64(limit)).fetch_all(&mut *conn).await;
                    rows.extend(found.or_store("reading buckets")?);
                }
            }
            None => {
                for group in listed.chunks(SERIES_PER_STATEMENT) {
                    let mut q =
                        sqlx::query_as::<_, BucketRow>(AssertSqlSafe(buckets_sql(table, group.len())));
                    if DIALECT.joins_series() {
                        q = q.bind(tenant.get());
                    }
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
        let listed = listable(&mut conn, tenant, series).await?;
        let mut rows: Vec<BucketRow> = Vec::new();
        for group in listed.chunks(SERIES_PER_STATEMENT) {
            let mut q = sqlx::query_as::<_, BucketRow>(AssertSqlSafe(fold_sql(group.len())));
            if DIALECT.joins_series() {
                q = q.bind(tenant.get());
            }
            for id in group {
                q = q.bind(id.0);
            }
            let folded = q.bind(from.as_millis()).bind(to.as_millis()).fetch_all(&mut *conn).await;
            rows.extend(folded.or_store("folding samples")?);
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
        let mut tx =
            self.write.begin_with(DIALECT.begin_write()).await.or_store("starting to write buckets")?;
        let mut ids: Vec<SeriesId> = buckets.iter().map(|b| b.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let owned: HashSet<SeriesId> = owned_ids(&mut tx, tenant, &ids).await?.into_iter().collect();
        let mut mine: Vec<&SeriesBucket> = buckets.iter().filter(|b| owned.contains(&b.0)).collect();
        mine.sort_by_key(|b| (b.0, b.1));
        let head = format!("INSERT INTO {table} ({}) VALUES ", bucket_columns!());
        let upsert = DIALECT
            .upsert_replacing("series_id, bucket", &["cnt", "sum_v", "min_v", "max_v", "last_v", "last_at"]);
        for chunk in mine.chunks(DIALECT.rows_per_statement()) {
            let sql = repeated_sql(&head, "(?,?,?,?,?,?,?,?)", chunk.len(), &upsert);
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

/// A read of `table`'s buckets for listed series, up to the opening of the id list.
fn buckets_head(table: &str) -> String {
    format!("SELECT {} {}", bucket_columns_of!("b."), series_rows_from(table, "b"))
}

/// Buckets of `n` listed series in a range, in key order; binds the tenant where the dialect
/// joins `series`, then the series ids, then the range.
pub(crate) fn buckets_sql(table: &str, n: usize) -> String {
    repeated_sql(
        &buckets_head(table),
        "?",
        n,
        ") AND b.bucket BETWEEN ? AND ? ORDER BY b.series_id, b.bucket",
    )
}

/// Folding raw samples of `n` listed series into 1-minute buckets where they are: one row per
/// bucket instead of one per sample. The last value is looked up by its time (one key lookup
/// per bucket). Binds the tenant where the dialect joins `series`, then the series ids, then
/// the range `[from, to)`.
pub(crate) fn fold_sql(n: usize) -> String {
    let head = format!(
        "SELECT g.series_id, g.bucket, g.cnt, g.sum_v, g.min_v, g.max_v, \
         (SELECT l.value FROM samples l WHERE l.series_id = g.series_id AND l.ts = g.last_at) AS last_v, g.last_at \
         FROM (SELECT p.series_id, p.ts - ((p.ts % 60000) + 60000) % 60000 AS bucket, COUNT(*) AS cnt, \
         SUM(p.value) AS sum_v, MIN(p.value) AS min_v, MAX(p.value) AS max_v, MAX(p.ts) AS last_at {}",
        series_rows_from("samples", "p")
    );
    repeated_sql(
        &head,
        "?",
        n,
        ") AND p.ts >= ? AND p.ts < ? GROUP BY p.series_id, bucket) g ORDER BY g.series_id, g.bucket",
    )
}
