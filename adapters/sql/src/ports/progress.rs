//! [`RollupProgress`]: `rollup_progress` per tenant and the `rollup_dirty` marks.
//!
//! Every insert reads its tenant's `rollup_progress` row (see [`mark_late`]) and
//! [`RollupProgress::close_until`] raises the close point. On MariaDB the insert's read takes a
//! shared lock and closing an exclusive one, so closing waits for the batches in flight to
//! commit (the rollup job's reads then see them), and batches that start after it see the new
//! close point and mark their late samples; the wait lasts as long as the longest batch in
//! flight, once per tenant and run. On SQLite the single writer orders the two the same way.

use async_trait::async_trait;
use microdash_domain::rollup::{FIVE_MINUTES_MS, MINUTE_MS, bucket_start, fold};
use microdash_domain::{Bucket, Sample, TenantId, Timestamp};
use microdash_usecases::ports::{DirtyBucket, FoldRange, RollupProgress, SeriesId, StoreError};
use sqlx::AssertSqlSafe;

use super::{Connection, DIALECT, Store};
use crate::dialect::repeated_sql;
use crate::error::SqlxResultExt;
use crate::stored::buckets::{
    BucketRow, bucket_columns, dirty_from_rows, late_marks, merged_bucket, next_version,
};
use crate::stored::to_i64;

/// Deletes the mark of one (series, minute) if it still has the version read.
const CLEAR_MARK_SQL: &str =
    "DELETE FROM rollup_dirty WHERE tenant_id = ? AND series_id = ? AND minute = ? AND version = ?";

#[async_trait]
impl RollupProgress for Store {
    async fn close_until(&self, tenant: TenantId, target: Timestamp) -> Result<FoldRange, StoreError> {
        let sql = format!(
            "INSERT INTO rollup_progress (tenant_id, folded_until, closed_until) VALUES (?, ?, ?){}\
             closed_until = {}(closed_until, {}) RETURNING folded_until, closed_until",
            DIALECT.upsert("tenant_id"),
            DIALECT.greatest(),
            DIALECT.inserted("closed_until"),
        );
        let (from, to): (i64, i64) = sqlx::query_as(AssertSqlSafe(sql))
            .bind(tenant.get())
            .bind(target.as_millis())
            .bind(target.as_millis())
            .fetch_one(&self.write)
            .await
            .or_store("closing minutes")?;
        Ok(FoldRange { from: Timestamp::from_millis(from), to: Timestamp::from_millis(to) })
    }

    async fn mark_folded(&self, tenant: TenantId, until: Timestamp) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE rollup_progress SET folded_until = {}(folded_until, {}(?, closed_until)) WHERE tenant_id = ?",
            DIALECT.greatest(),
            DIALECT.least(),
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(until.as_millis())
            .bind(tenant.get())
            .execute(&self.write)
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
        .fetch_all(&self.read)
        .await
        .or_store("reading dirty buckets")?;
        Ok(dirty_from_rows(rows))
    }

    async fn clear_dirty(&self, tenant: TenantId, buckets: &[DirtyBucket]) -> Result<(), StoreError> {
        // In key order, so that concurrent writers lock marks in one order.
        let mut sorted: Vec<&DirtyBucket> = buckets.iter().collect();
        sorted.sort_by_key(|d| (d.series, d.minute));
        let mut tx =
            self.write.begin_with(DIALECT.begin_write()).await.or_store("starting to clear marks")?;
        for d in sorted {
            sqlx::query(CLEAR_MARK_SQL)
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
        let mut tx = self.write.begin_with(DIALECT.begin_write()).await.or_store("starting to absorb")?;
        let read_late = format!(
            "SELECT ts, value FROM samples WHERE series_id = ? AND ts >= ? AND ts < ?{}",
            DIALECT.for_update()
        );
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
            let points: Vec<(i64, f64)> = sqlx::query_as(AssertSqlSafe(read_late.as_str()))
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
                delete_absorbed(&mut tx, d.series, minute, &points).await?;
                absorbed += points.len() as u64;
            }
            sqlx::query(CLEAR_MARK_SQL)
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

/// Deletes the `points` of `series` read from the minute starting at `minute`.
async fn delete_absorbed(
    conn: &mut Connection,
    series: SeriesId,
    minute: i64,
    points: &[(i64, f64)],
) -> Result<(), StoreError> {
    let delete = if DIALECT.single_writer() {
        // Nothing was stored since the read, so the minute holds exactly the rows read, and a
        // range needs no list (a minute can hold more samples than SQLite takes parameters).
        sqlx::query("DELETE FROM samples WHERE series_id = ? AND ts >= ? AND ts < ?")
            .bind(series.0)
            .bind(minute)
            .bind(minute + MINUTE_MS)
    } else {
        // Exactly the rows read: a sample stored meanwhile is not lost, its mark stays.
        let sql = repeated_sql("DELETE FROM samples WHERE series_id = ? AND ts IN (", "?", points.len(), ")");
        let mut delete = sqlx::query(AssertSqlSafe(sql)).bind(series.0);
        for (ts, _) in points {
            delete = delete.bind(ts);
        }
        delete
    };
    delete.execute(&mut *conn).await.or_store("deleting absorbed samples")?;
    Ok(())
}

/// Merges `delta` into the stored bucket (or stores it).
async fn merge_into(
    conn: &mut Connection,
    table: &'static str,
    series: SeriesId,
    bucket: i64,
    delta: &Bucket,
) -> Result<(), StoreError> {
    let select = format!(
        "SELECT {} FROM {table} WHERE series_id = ? AND bucket = ?{}",
        bucket_columns!(),
        DIALECT.for_update()
    );
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

/// Inside an insert's transaction: reads the tenant's close point (with a shared lock where
/// writers are concurrent) and marks the (series, minute) of samples for closed minutes, in
/// key order.
pub(super) async fn mark_late(
    conn: &mut Connection,
    tenant: TenantId,
    batch: &[Sample],
    kept: &[usize],
    series_ids: &[i64],
) -> Result<(), StoreError> {
    let read_close =
        format!("SELECT closed_until FROM rollup_progress WHERE tenant_id = ?{}", DIALECT.for_share());
    let closed: Option<i64> = sqlx::query_scalar(AssertSqlSafe(read_close))
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
    let upsert = DIALECT.upsert_replacing("tenant_id, series_id, minute", &["version"]);
    for chunk in marks.chunks(DIALECT.rows_per_statement()) {
        let sql = repeated_sql(
            "INSERT INTO rollup_dirty (tenant_id, series_id, minute, version) VALUES ",
            "(?,?,?,?)",
            chunk.len(),
            &upsert,
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (series, minute) in chunk {
            q = q.bind(tenant.get()).bind(series).bind(minute).bind(version);
        }
        q.execute(&mut *conn).await.or_store("marking late samples")?;
    }
    Ok(())
}
