//! [`SampleStore`]: ingest and raw queries.
//!
//! A batch is one write transaction: claim the dedupe ids (`dedupe`), resolve series ids
//! (`series_ids`), then upsert the rows in multi-row statements of
//! [`rows_per_statement`](crate::dialect::Dialect::rows_per_statement), in key order so that
//! concurrent writers lock in one order, and mark samples of closed minutes (`progress`).
//! Values are always bound, never formatted into SQL; the only SQL built at run time is the
//! dialect's fixed fragments, lists of `?` and lists of series ids read from the database.

use async_trait::async_trait;
use microdash_domain::{AgentId, MetricName, Sample, TenantId};
use microdash_usecases::ports::{Inserted, RawQuery, RawQueryResult, SampleStore, StoreError};
use sqlx::AssertSqlSafe;

use super::{Connection, DIALECT, Store, dedupe, progress, series_ids};
use crate::dialect::{id_list, repeated_sql};
use crate::error::{SqlxResultExt, corrupt, is_deadlock};
use crate::stored::{group_points, to_i64, with_tags};

/// Attempts of a batch that InnoDB chose as a deadlock victim: the transaction was rolled back
/// whole, so running it again is safe, and a second collision in a row is rare. SQLite has no
/// deadlocks (one writer), so there a batch runs once.
const DEADLOCK_ATTEMPTS: usize = 3;

/// The matching series, to name the points of a page; binds the agent (or NULL for all
/// agents) twice.
const SERIES_SQL: &str = "SELECT id, agent_id, tags FROM series \
     WHERE tenant_id = ? AND metric = ? AND (? IS NULL OR agent_id = ?)";

/// The page of points, earliest first, selecting the series through a join (see
/// [`Dialect::joins_series`](crate::dialect::Dialect::joins_series)); binds the tenant, the
/// metric, the agent twice, the range and the limit. One text for every query, so it is
/// prepared once.
pub(crate) const JOINED_POINTS_SQL: &str = "SELECT p.series_id, p.ts, p.value \
     FROM series s JOIN samples p ON p.series_id = s.id \
     WHERE s.tenant_id = ? AND s.metric = ? AND (? IS NULL OR s.agent_id = ?) \
     AND p.ts BETWEEN ? AND ? ORDER BY p.ts, p.series_id LIMIT ?";

/// How many points [`JOINED_POINTS_SQL`] matches in all, for `total` when the page is full;
/// binds the same values but the limit.
pub(crate) const JOINED_COUNT_SQL: &str = "SELECT COUNT(*) FROM series s JOIN samples p ON p.series_id = s.id \
     WHERE s.tenant_id = ? AND s.metric = ? AND (? IS NULL OR s.agent_id = ?) \
     AND p.ts BETWEEN ? AND ?";

#[async_trait]
impl SampleStore for Store {
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
        let (start, end) = (query.start.as_millis(), query.end.as_millis());
        // No explicit read transaction: BEGIN/COMMIT would add two round trips to every
        // query. A total counted a moment after the page can only be larger, which keeps
        // `truncated` true when it must be.
        let mut conn = self.read.acquire().await.or_store("starting a query")?;
        let (page, count, listed_series) = if DIALECT.joins_series() && query.tags.is_empty() {
            let page = sqlx::query_as(JOINED_POINTS_SQL)
                .bind(tenant.get())
                .bind(query.metric.as_str())
                .bind(agent)
                .bind(agent)
                .bind(start)
                .bind(end)
                .bind(to_i64(query.limit));
            let count = sqlx::query_scalar(JOINED_COUNT_SQL)
                .bind(tenant.get())
                .bind(query.metric.as_str())
                .bind(agent)
                .bind(agent)
                .bind(start)
                .bind(end);
            (page, count, None)
        } else {
            // The series first (tags are matched on their decoded form), then an IN list on
            // the first key part and a range on the second: each series' time range is read
            // from the samples key.
            let rows = with_tags(series_rows(&mut conn, tenant, query).await?, &query.tags)?;
            if rows.is_empty() {
                return Ok(RawQueryResult::default());
            }
            let in_list = id_list(rows.iter().map(|row| row.0));
            let page = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT series_id, ts, value FROM samples WHERE series_id IN ({in_list}) \
                 AND ts BETWEEN ? AND ? ORDER BY ts, series_id LIMIT ?"
            )))
            .bind(start)
            .bind(end)
            .bind(to_i64(query.limit));
            let count = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM samples WHERE series_id IN ({in_list}) AND ts BETWEEN ? AND ?"
            )))
            .bind(start)
            .bind(end);
            (page, count, Some(rows))
        };
        let points: Vec<(i64, i64, f64)> = page.fetch_all(&mut *conn).await.or_store("reading samples")?;
        let total = if points.len() < query.limit {
            points.len() as u64
        } else {
            let count: i64 = count.fetch_one(&mut *conn).await.or_store("counting samples")?;
            u64::try_from(count).unwrap_or_default()
        };
        let total = total.max(points.len() as u64);
        let truncated = total > points.len() as u64;
        if points.is_empty() {
            return Ok(RawQueryResult { series: Vec::new(), total, truncated });
        }
        let series = match listed_series {
            Some(rows) => rows,
            None => series_rows(&mut conn, tenant, query).await?,
        };
        Ok(RawQueryResult { series: group_points(series, points)?, total, truncated })
    }

    async fn metric_names(&self, tenant: TenantId) -> Result<Vec<MetricName>, StoreError> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT metric FROM series WHERE tenant_id = ? ORDER BY metric")
                .bind(tenant.get())
                .fetch_all(&self.read)
                .await
                .or_store("listing metric names")?;
        names.into_iter().map(|n| MetricName::new(n).map_err(|e| corrupt("metric name", e))).collect()
    }
}

impl Store {
    /// One attempt of [`SampleStore::insert_batch`] in its own transaction.
    async fn try_insert_batch(&self, tenant: TenantId, batch: &[Sample]) -> Result<Inserted, StoreError> {
        let mut tx = self.write.begin_with(DIALECT.begin_write()).await.or_store("starting an insert")?;
        let duplicates = dedupe::claim_ids(&mut tx, tenant, batch).await?;
        let kept: Vec<usize> = (0..batch.len()).filter(|i| duplicates.binary_search(i).is_err()).collect();
        let (series_ids, fresh) = series_ids::resolve(&self.series, &mut tx, tenant, batch, &kept).await?;
        insert_samples(&mut tx, batch, &kept, &series_ids).await?;
        progress::mark_late(&mut tx, tenant, batch, &kept, &series_ids).await?;
        tx.commit().await.or_store("committing an insert")?;
        self.series.remember(tenant, fresh);
        Ok(Inserted { stored: kept.len(), duplicates })
    }
}

/// The series rows of `query`'s metric and agent, any tags.
async fn series_rows(
    conn: &mut Connection,
    tenant: TenantId,
    query: &RawQuery,
) -> Result<Vec<(i64, String, String)>, StoreError> {
    let agent = query.agent.as_ref().map(AgentId::as_str);
    sqlx::query_as(SERIES_SQL)
        .bind(tenant.get())
        .bind(query.metric.as_str())
        .bind(agent)
        .bind(agent)
        .fetch_all(&mut *conn)
        .await
        .or_store("reading series")
}

/// Upserts `batch[i]` for every `i` in `kept`: a sample for a series and millisecond that
/// already has one replaces its value (within the batch too: the later one wins, since rows
/// are ordered by key with a stable sort and the statement applies them in order).
async fn insert_samples(
    conn: &mut Connection,
    batch: &[Sample],
    kept: &[usize],
    series_ids: &[i64],
) -> Result<(), StoreError> {
    let mut rows: Vec<usize> = kept.to_vec();
    rows.sort_by_key(|&i| (series_ids[i], batch[i].timestamp.as_millis()));
    let upsert = DIALECT.upsert_replacing("series_id, ts", &["value"]);
    for chunk in rows.chunks(DIALECT.rows_per_statement()) {
        let sql = repeated_sql(
            "INSERT INTO samples (series_id, ts, value) VALUES ",
            "(?,?,?)",
            chunk.len(),
            &upsert,
        );
        let mut insert = sqlx::query(AssertSqlSafe(sql));
        for &i in chunk {
            insert = insert.bind(series_ids[i]).bind(batch[i].timestamp.as_millis()).bind(batch[i].value);
        }
        insert.execute(&mut *conn).await.or_store("inserting samples")?;
    }
    Ok(())
}
