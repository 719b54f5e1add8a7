//! [`RollupProgress`] on MariaDB: `rollup_progress` per tenant and the `rollup_dirty` marks.
//!
//! Every insert reads its tenant's `rollup_progress` row with a shared lock (see
//! [`mark_late`]), and [`RollupProgress::close_until`] raises the close point with an exclusive
//! one. So closing waits for the batches in flight to commit (the rollup job's reads then see
//! them), and batches that start after it see the new close point and mark their late samples.
//! The wait lasts as long as the longest batch in flight, once per tenant and run.

use async_trait::async_trait;
use microdash_domain::rollup::{FIVE_MINUTES_MS, MINUTE_MS, bucket_start, fold};
use microdash_domain::{Bucket, Sample, TenantId, Timestamp};
use microdash_usecases::ports::{DirtyBucket, FoldRange, RollupProgress, SeriesId, StoreError};
use sqlx::{AssertSqlSafe, MySqlConnection};

use super::{MariaDbStore, to_i64};
use crate::error::SqlxResultExt;
use crate::stored::buckets::{
    BucketRow, bucket_columns, dirty_from_rows, late_marks, merged_bucket, next_version,
};
use crate::stored::repeated_sql;

/// Marks per multi-row upsert.
const CHUNK_ROWS: usize = 1_000;

#[async_trait]
impl RollupProgress for MariaDbStore {
    async fn close_until(&self, tenant: TenantId, target: Timestamp) -> Result<FoldRange, StoreError> {
        let mut tx = self.pool.begin().await.or_store("starting to close minutes")?;
        sqlx::query(
            "INSERT INTO rollup_progress (tenant_id, folded_until, closed_until) VALUES (?, ?, ?) \
             ON DUPLICATE KEY UPDATE closed_until = GREATEST(closed_until, VALUES(closed_until))",
        )
        .bind(tenant.get())
        .bind(target.as_millis())
        .bind(target.as_millis())
        .execute(&mut *tx)
        .await
        .or_store("closing minutes")?;
        let (from, to): (i64, i64) =
            sqlx::query_as("SELECT folded_until, closed_until FROM rollup_progress WHERE tenant_id = ?")
                .bind(tenant.get())
                .fetch_one(&mut *tx)
                .await
                .or_store("reading rollup progress")?;
        tx.commit().await.or_store("committing closed minutes")?;
        Ok(FoldRange { from: Timestamp::from_millis(from), to: Timestamp::from_millis(to) })
    }

    async fn mark_folded(&self, tenant: TenantId, until: Timestamp) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE rollup_progress SET folded_until = GREATEST(folded_until, LEAST(?, closed_until)) WHERE tenant_id = ?",
        )
        .bind(until.as_millis())
        .bind(tenant.get())
        .execute(&self.pool)
        .await
        .or_store("recording rollup progress")?;
        Ok(())
    }

    async fn dirty_buckets(&self, tenant: TenantId, max: usize) -> Result<Vec<DirtyBucket>, StoreError> {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT series_id, minute, version FROM rollup_dirty WHERE tenant_id = ? ORDER BY minute, series_id LIMIT ?",
        )
        .bind(tenant.get())
        .bind(to_i64(max))
        .fetch_all(&self.pool)
        .await
        .or_store("reading dirty buckets")?;
        Ok(dirty_from_rows(rows))
    }

    async fn clear_dirty(&self, tenant: TenantId, buckets: &[DirtyBucket]) -> Result<(), StoreError> {
        let mut sorted: Vec<&DirtyBucket> = buckets.iter().collect();
        sorted.sort_by_key(|d| (d.series, d.minute));
        let mut tx = self.pool.begin().await.or_store("starting to clear marks")?;
        for d in sorted {
            sqlx::query("DELETE FROM rollup_dirty WHERE tenant_id = ? AND series_id = ? AND minute = ? AND version = ?")
                .bind(tenant.get())
                .bind(d.series.0)
                .bind(d.minute.as_millis())
                .bind(d.version)
                .execute(&mut *tx)
                .await
                .or_store("clearing a mark")?;
        }
        tx.commit().await.or_store("committing cleared marks")
    }

    async fn absorb_late(&self, tenant: TenantId, buckets: &[DirtyBucket]) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.or_store("starting to absorb")?;
        let mut absorbed = 0;
        for d in buckets {
            let owner: Option<i64> = sqlx::query_scalar("SELECT tenant_id FROM series WHERE id = ?")
                .bind(d.series.0)
                .fetch_optional(&mut *tx)
                .await
                .or_store("checking a series")?;
            if owner != Some(tenant.get()) {
                continue;
            }
            let minute = d.minute.as_millis();
            // Locking reads: a second absorber waits here, then finds the rows gone.
            let points: Vec<(i64, f64)> = sqlx::query_as(
                "SELECT ts, value FROM samples WHERE series_id = ? AND ts >= ? AND ts < ? FOR UPDATE",
            )
            .bind(d.series.0)
            .bind(minute)
            .bind(minute + MINUTE_MS)
            .fetch_all(&mut *tx)
            .await
            .or_store("reading late samples")?;
            if let Some(delta) = fold(points.iter().map(|&(t, v)| (Timestamp::from_millis(t), v))) {
                merge_into(&mut tx, "rollup_1m", d.series, minute, &delta).await?;
                let five = bucket_start(d.minute, FIVE_MINUTES_MS).as_millis();
                merge_into(&mut tx, "rollup_5m", d.series, five, &delta).await?;
                // Exactly the rows read: a sample stored meanwhile is not lost, its mark stays.
                let sql = repeated_sql(
                    "DELETE FROM samples WHERE series_id = ? AND ts IN (",
                    "?",
                    points.len(),
                    ")",
                );
                let mut delete = sqlx::query(AssertSqlSafe(sql)).bind(d.series.0);
                for (ts, _) in &points {
                    delete = delete.bind(ts);
                }
                delete.execute(&mut *tx).await.or_store("deleting absorbed samples")?;
                absorbed += points.len() as u64;
            }
            sqlx::query("DELETE FROM rollup_dirty WHERE tenant_id = ? AND series_id = ? AND minute = ? AND version = ?")
                .bind(tenant.get())
                .bind(d.series.0)
                .bind(minute)
                .bind(d.version)
                .execute(&mut *tx)
                .await
                .or_store("clearing a mark")?;
        }
        tx.commit().await.or_store("committing absorbed samples")?;
        Ok(absorbed)
    }
}

/// Merges `delta` into the stored bucket (or stores it).
async fn merge_into(
    conn: &mut MySqlConnection,
    table: &'static str,
    series: SeriesId,
    bucket: i64,
    delta: &Bucket,
) -> Result<(), StoreError> {
    let select =
        format!("SELECT {} FROM {table} WHERE series_id = ? AND bucket = ? FOR UPDATE", bucket_columns!());
    let stored: Option<BucketRow> = sqlx::query_as(AssertSqlSafe(select))
        .bind(series.0)
        .bind(bucket)
        .fetch_optional(&mut *conn)
        .await
        .or_store("reading a bucket")?;
    let merged = merged_bucket(stored, delta);
    let upsert = format!("REPLACE INTO {table} ({}) VALUES (?,?,?,?,?,?,?,?)", bucket_columns!());
    sqlx::query(AssertSqlSafe(upsert))
        .bind(series.0)
        .bind(bucket)
        .bind(to_i64(merged.count))
        .bind(merged.sum)
        .bind(merged.min)
        .bind(merged.max)
        .bind(merged.last)
        .bind(merged.last_at.as_millis())
        .execute(&mut *conn)
        .await
        .or_store("writing a bucket")?;
    Ok(())
}

/// Inside an insert's transaction: reads the tenant's close point with a shared lock and marks
/// the (series, minute) of samples for closed minutes, in key order.
pub(super) async fn mark_late(
    conn: &mut MySqlConnection,
    tenant: TenantId,
    batch: &[Sample],
    kept: &[usize],
    series_ids: &[i64],
) -> Result<(), StoreError> {
    let closed: Option<i64> =
        sqlx::query_scalar("SELECT closed_until FROM rollup_progress WHERE tenant_id = ? LOCK IN SHARE MODE")
            .bind(tenant.get())
            .fetch_optional(&mut *conn)
            .await
            .or_store("reading the rollup close point")?;
    let Some(closed) = closed else { return Ok(()) };
    let marks = late_marks(batch, kept, series_ids, closed);
    if marks.is_empty() {
        return Ok(());
    }
    let version = next_version();
    for chunk in marks.chunks(CHUNK_ROWS) {
        let sql = repeated_sql(
            "INSERT INTO rollup_dirty (tenant_id, series_id, minute, version) VALUES ",
            "(?,?,?,?)",
            chunk.len(),
            " ON DUPLICATE KEY UPDATE version = VALUES(version)",
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (series, minute) in chunk {
            q = q.bind(tenant.get()).bind(series).bind(minute).bind(version);
        }
        q.execute(&mut *conn).await.or_store("marking late samples")?;
    }
    Ok(())
}
