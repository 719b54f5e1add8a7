//! [`SampleStore`] on MariaDB.
//!
//! A batch is one READ COMMITTED transaction: claim the dedupe ids (`INSERT IGNORE ..
//! RETURNING`, so the insert itself says which ids were new, even against a concurrent writer
//! that holds the same id), resolve series ids (see `series`), then upsert the rows in
//! multi-row statements of [`CHUNK_ROWS`]. Every step writes its rows in key order, so
//! concurrent batches lock in the same order. Values are always bound, never formatted into
//! SQL; the only SQL built at run time is lists of `?` and of series ids read from the database.

use std::collections::HashSet;
use std::fmt::Write as _;

use async_trait::async_trait;
use microdash_domain::{AgentId, MetricName, Sample, Tags, TenantId};
use microdash_usecases::ports::{Inserted, RawQuery, RawQueryResult, SampleStore, StoreError};
use sqlx::{AssertSqlSafe, MySqlConnection};

use super::{MariaDbStore, progress, series, to_i64};
use crate::error::{SqlxResultExt, corrupt, is_deadlock};
use crate::stored::{decode_tags, dedupe_candidates, group_points, repeated_sql};

/// Rows per multi-row statement: 3,000 placeholders, far below the protocol's 65,535, and the
/// size the stack spike measured at about 120k rows/s. Constant so that only two statement
/// texts exist per table (a full chunk and the batch's remainder) and the prepared-statement
/// cache keeps hitting.
const CHUNK_ROWS: usize = 1_000;

/// Attempts of a batch that InnoDB chose as a deadlock victim: the transaction was rolled back
/// whole, so running it again is safe, and a second collision in a row is rare.
const DEADLOCK_ATTEMPTS: usize = 3;

/// The matching series; `?3` (bound twice) is the agent or NULL for all agents.
const SERIES_SQL: &str = "SELECT id, agent_id, tags FROM series \
     WHERE tenant_id = ? AND metric = ? AND (? IS NULL OR agent_id = ?)";

#[async_trait]
impl SampleStore for MariaDbStore {
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, samples = batch.len()))]
    async fn insert_batch(&self, tenant: TenantId, batch: &[Sample]) -> Result<Inserted, StoreError> {
        if batch.is_empty() {
            return Ok(Inserted::default());
        }
        let mut attempt = 1;
        loop {
            match self.try_insert_batch(tenant, batch).await {
                Err(e) if attempt < DEADLOCK_ATTEMPTS && is_deadlock(&e) => {
                    tracing::debug!(attempt, error = %e, "Insert chosen as deadlock victim, retrying.");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, metric = %query.metric))]
    async fn query_raw(&self, tenant: TenantId, query: &RawQuery) -> Result<RawQueryResult, StoreError> {
        let agent = query.agent.as_ref().map(AgentId::as_str);
        let mut conn = self.pool.acquire().await.or_store("starting a query")?;
        let series_rows: Vec<(i64, String, String)> = sqlx::query_as(SERIES_SQL)
            .bind(tenant.get())
            .bind(query.metric.as_str())
            .bind(agent)
            .bind(agent)
            .fetch_all(&mut *conn)
            .await
            .or_store("reading series")?;
        let series_rows = with_tags(series_rows, &query.tags)?;
        if series_rows.is_empty() {
            return Ok(RawQueryResult::default());
        }
        // An IN list on the first key part and a range on the second: InnoDB reads exactly
        // each series' time range from the clustered key, where a join would `ref` whole series.
        let in_list = id_list(series_rows.iter().map(|row| row.0));
        let (start, end) = (query.start.as_millis(), query.end.as_millis());
        let points: Vec<(i64, i64, f64)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT series_id, ts, value FROM samples WHERE series_id IN ({in_list}) \
             AND ts BETWEEN ? AND ? ORDER BY ts, series_id LIMIT ?"
        )))
        .bind(start)
        .bind(end)
        .bind(to_i64(query.limit))
        .fetch_all(&mut *conn)
        .await
        .or_store("reading samples")?;
        let total = if points.len() < query.limit {
            points.len() as u64
        } else {
            // Counted a moment after the page, so it can only be larger, which keeps
            // `truncated` true when it must be.
            let count: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM samples WHERE series_id IN ({in_list}) AND ts BETWEEN ? AND ?"
            )))
            .bind(start)
            .bind(end)
            .fetch_one(&mut *conn)
            .await
            .or_store("counting samples")?;
            u64::try_from(count).unwrap_or_default()
        };
        let total = total.max(points.len() as u64);
        let truncated = total > points.len() as u64;
        if points.is_empty() {
            return Ok(RawQueryResult { series: Vec::new(), total, truncated });
        }
        Ok(RawQueryResult { series: group_points(series_rows, points)?, total, truncated })
    }

    async fn metric_names(&self, tenant: TenantId) -> Result<Vec<MetricName>, StoreError> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT metric FROM series WHERE tenant_id = ? ORDER BY metric")
                .bind(tenant.get())
                .fetch_all(&self.pool)
                .await
                .or_store("listing metric names")?;
        names.into_iter().map(|n| MetricName::new(n).map_err(|e| corrupt("metric name", e))).collect()
    }
}

impl MariaDbStore {
    /// One attempt of [`SampleStore::insert_batch`] in its own transaction.
    async fn try_insert_batch(&self, tenant: TenantId, batch: &[Sample]) -> Result<Inserted, StoreError> {
        let mut tx = self.pool.begin().await.or_store("starting an insert")?;
        let duplicates = claim_dedupe_ids(&mut tx, tenant, batch).await?;
        let kept: Vec<usize> = (0..batch.len()).filter(|i| duplicates.binary_search(i).is_err()).collect();
        let (series_ids, fresh) = series::resolve(&self.series, &mut tx, tenant, batch, &kept).await?;
        insert_samples(&mut tx, batch, &kept, &series_ids).await?;
        progress::mark_late(&mut tx, tenant, batch, &kept, &series_ids).await?;
        tx.commit().await.or_store("committing an insert")?;
        self.series.remember(tenant, fresh);
        Ok(Inserted { stored: kept.len(), duplicates })
    }
}

/// Records the batch's dedupe ids and returns the positions of samples to skip, ascending:
/// those whose id the tenant sent in an earlier (or a concurrent, committed) batch, and
/// repeats of an id within this batch (the first occurrence wins).
///
/// `INSERT IGNORE .. RETURNING` returns only the rows it inserted. A concurrent transaction
/// holding the same new id makes this one wait on that row: after its commit the id is
/// ignored here (a duplicate), after its rollback it is inserted here.
async fn claim_dedupe_ids(
    conn: &mut MySqlConnection,
    tenant: TenantId,
    batch: &[Sample],
) -> Result<Vec<usize>, StoreError> {
    let (mut candidates, mut duplicates) = dedupe_candidates(batch);
    if candidates.is_empty() {
        return Ok(duplicates);
    }
    // Byte order is the column's (utf8mb4_nopad_bin) order: every writer locks ids in it.
    candidates.sort_unstable_by(|a, b| a.1.as_bytes().cmp(b.1.as_bytes()));

    let mut new: HashSet<String> = HashSet::with_capacity(candidates.len());
    for chunk in candidates.chunks(CHUNK_ROWS) {
        let sql = repeated_sql(
            "INSERT IGNORE INTO dedupe (tenant_id, dedupe_id, ts) VALUES ",
            "(?,?,?)",
            chunk.len(),
            " RETURNING dedupe_id",
        );
        let mut insert = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
        for &(_, id, ts) in chunk {
            insert = insert.bind(tenant.get()).bind(id).bind(ts);
        }
        new.extend(insert.fetch_all(&mut *conn).await.or_store("recording dedupe ids")?);
    }
    duplicates.extend(candidates.into_iter().filter(|(_, id, _)| !new.contains(*id)).map(|(i, _, _)| i));
    duplicates.sort_unstable();
    Ok(duplicates)
}

/// Upserts `batch[i]` for every `i` in `kept`: a sample for a series and millisecond that
/// already has one replaces its value (within the batch too: the later one wins, since rows
/// are ordered by key with a stable sort and the statement applies them in order).
async fn insert_samples(
    conn: &mut MySqlConnection,
    batch: &[Sample],
    kept: &[usize],
    series_ids: &[i64],
) -> Result<(), StoreError> {
    let mut rows: Vec<usize> = kept.to_vec();
    rows.sort_by_key(|&i| (series_ids[i], batch[i].timestamp.as_millis()));
    for chunk in rows.chunks(CHUNK_ROWS) {
        let sql = repeated_sql(
            "INSERT INTO samples (series_id, ts, value) VALUES ",
            "(?,?,?)",
            chunk.len(),
            " ON DUPLICATE KEY UPDATE value = VALUES(value)",
        );
        let mut insert = sqlx::query(AssertSqlSafe(sql));
        for &i in chunk {
            insert = insert.bind(series_ids[i]).bind(batch[i].timestamp.as_millis()).bind(batch[i].value);
        }
        insert.execute(&mut *conn).await.or_store("inserting samples")?;
    }
    Ok(())
}

/// The series rows carrying every one of `tags`.
fn with_tags(
    rows: Vec<(i64, String, String)>,
    tags: &Tags,
) -> Result<Vec<(i64, String, String)>, StoreError> {
    if tags.is_empty() {
        return Ok(rows);
    }
    let mut kept = Vec::with_capacity(rows.len());
    for row in rows {
        let stored = decode_tags(&row.2)?;
        if tags.iter().all(|(k, v)| stored.as_map().get(k).is_some_and(|x| x == v)) {
            kept.push(row);
        }
    }
    Ok(kept)
}

/// Series ids as a comma-separated SQL list. They are integers read from the database, so
/// formatting them into SQL cannot inject anything, and it avoids the 65,535-placeholder
/// limit for metrics with many series.
fn id_list(ids: impl Iterator<Item = i64>) -> String {
    let mut list = String::new();
    for (n, id) in ids.enumerate() {
        if n > 0 {
            list.push(',');
        }
        let _ = write!(list, "{id}");
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_lists_are_plain_comma_separated_integers() {
        assert_eq!(id_list([3, -1, 42].into_iter()), "3,-1,42");
        assert_eq!(id_list(std::iter::once(7)), "7");
    }
}
