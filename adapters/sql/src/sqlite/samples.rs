//! [`SampleStore`] on SQLite.
//!
//! A batch is one `BEGIN IMMEDIATE` transaction on the writer: claim the dedupe ids, resolve
//! series ids (see `series`), then upsert the rows in multi-row statements of [`CHUNK_ROWS`].
//! Values are always bound, never formatted into SQL; the only SQL built at run time is lists
//! of `?` placeholders.

use std::collections::HashSet;

use async_trait::async_trait;
use microdash_domain::{AgentId, MetricName, Sample, TenantId};
use microdash_usecases::ports::{
    Inserted, RawQuery, RawQueryResult, SampleStore, SeriesFilter, SeriesReader, StoreError,
};
use sqlx::{AssertSqlSafe, SqliteConnection};

use super::{SqliteStore, progress, series, to_i64};
use crate::error::{SqlxResultExt, corrupt};
use crate::stored::{dedupe_candidates, encode_agent, encode_tags, group_points, repeated_sql};

/// Rows per multi-row `INSERT`. Constant so that only two statement texts exist per table (a
/// full chunk and the batch's remainder) and the prepared-statement cache keeps hitting; 500
/// rows is 1,500 parameters, far below SQLite's 32,766, and past the point where bigger
/// statements stop paying off.
const CHUNK_ROWS: usize = 500;

/// The page of points, earliest first; `?3` is the agent or NULL for all agents.
const POINTS_SQL: &str = "SELECT p.series_id, p.ts, p.value FROM series s JOIN samples p ON p.series_id = s.id \
     WHERE s.tenant_id = ?1 AND s.metric = ?2 AND (?3 IS NULL OR s.agent_id = ?3) \
     AND p.ts BETWEEN ?4 AND ?5 ORDER BY p.ts, p.series_id LIMIT ?6";

/// How many points match in all, for `total` when the page is full.
const COUNT_SQL: &str = "SELECT COUNT(*) FROM series s JOIN samples p ON p.series_id = s.id \
     WHERE s.tenant_id = ?1 AND s.metric = ?2 AND (?3 IS NULL OR s.agent_id = ?3) \
     AND p.ts BETWEEN ?4 AND ?5";

/// The matching series, to name the points of the page.
const SERIES_SQL: &str = "SELECT id, agent_id, tags FROM series WHERE tenant_id = ?1 AND metric = ?2 AND (?3 IS NULL OR agent_id = ?3)";

#[async_trait]
impl SampleStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, samples = batch.len()))]
    async fn insert_batch(&self, tenant: TenantId, batch: &[Sample]) -> Result<Inserted, StoreError> {
        if batch.is_empty() {
            return Ok(Inserted::default());
        }
        // IMMEDIATE takes the write lock up front, so the series lookups and the inserts below
        // cannot meet another writer's snapshot half-way (SQLITE_BUSY_SNAPSHOT).
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await.or_store("starting an insert")?;
        let duplicates = claim_dedupe_ids(&mut tx, tenant, batch).await?;
        let kept: Vec<usize> = (0..batch.len()).filter(|i| duplicates.binary_search(i).is_err()).collect();
        let (series_ids, fresh) = series::resolve(&self.series, &mut tx, tenant, batch, &kept).await?;
        insert_samples(&mut tx, batch, &kept, &series_ids).await?;
        progress::mark_late(&mut tx, tenant, batch, &kept, &series_ids).await?;
        tx.commit().await.or_store("committing an insert")?;
        self.series.remember(tenant, fresh);
        Ok(Inserted { stored: kept.len(), duplicates })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, metric = %query.metric))]
    async fn query_raw(&self, tenant: TenantId, query: &RawQuery) -> Result<RawQueryResult, StoreError> {
        if !query.tags.is_empty() {
            return self.query_raw_tagged(tenant, query).await;
        }
        let agent = query.agent.as_ref().map(AgentId::as_str);
        let (start, end) = (query.start.as_millis(), query.end.as_millis());
        // No explicit read transaction: each statement is a round trip to SQLite's worker
        // thread, and BEGIN/COMMIT would add two to every query. A total counted a moment after
        // the page can only be larger, which keeps `truncated` true when it must be.
        let mut conn = self.read.acquire().await.or_store("starting a query")?;
        let points: Vec<(i64, i64, f64)> = sqlx::query_as(POINTS_SQL)
            .bind(tenant.get())
            .bind(query.metric.as_str())
            .bind(agent)
            .bind(start)
            .bind(end)
            .bind(to_i64(query.limit))
            .fetch_all(&mut *conn)
            .await
            .or_store("reading samples")?;
        let total = if points.len() < query.limit {
            points.len() as u64
        } else {
            let count: i64 = sqlx::query_scalar(COUNT_SQL)
                .bind(tenant.get())
                .bind(query.metric.as_str())
                .bind(agent)
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
        let series_rows: Vec<(i64, String, String)> = sqlx::query_as(SERIES_SQL)
            .bind(tenant.get())
            .bind(query.metric.as_str())
            .bind(agent)
            .fetch_all(&mut *conn)
            .await
            .or_store("reading series")?;
        Ok(RawQueryResult { series: group_points(series_rows, points)?, total, truncated })
    }

    async fn metric_names(&self, tenant: TenantId) -> Result<Vec<MetricName>, StoreError> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT metric FROM series WHERE tenant_id = ?1 ORDER BY metric")
                .bind(tenant.get())
                .fetch_all(&self.read)
                .await
                .or_store("listing metric names")?;
        names.into_iter().map(|n| MetricName::new(n).map_err(|e| corrupt("metric name", e))).collect()
    }
}

impl SqliteStore {
    /// [`SampleStore::query_raw`] with a tag filter: the series are selected first (tags are
    /// matched on their decoded form), then their points are read by series id.
    async fn query_raw_tagged(
        &self,
        tenant: TenantId,
        query: &RawQuery,
    ) -> Result<RawQueryResult, StoreError> {
        let filter = SeriesFilter {
            metric: query.metric.clone(),
            agent: query.agent.clone(),
            tags: query.tags.clone(),
        };
        let series = SeriesReader::series(self, tenant, &filter).await?;
        if series.is_empty() {
            return Ok(RawQueryResult::default());
        }
        let (start, end) = (query.start.as_millis(), query.end.as_millis());
        let list = |head: &str, tail: &str| repeated_sql(head, "?", series.len(), tail);
        let mut conn = self.read.acquire().await.or_store("starting a query")?;
        let sql = list(
            "SELECT series_id, ts, value FROM samples WHERE ts BETWEEN ? AND ? AND series_id IN (",
            ") ORDER BY ts, series_id LIMIT ?",
        );
        let mut page = sqlx::query_as::<_, (i64, i64, f64)>(AssertSqlSafe(sql)).bind(start).bind(end);
        for s in &series {
            page = page.bind(s.id.0);
        }
        let points =
            page.bind(to_i64(query.limit)).fetch_all(&mut *conn).await.or_store("reading samples")?;
        let total = if points.len() < query.limit {
            points.len() as u64
        } else {
            let sql = list("SELECT COUNT(*) FROM samples WHERE ts BETWEEN ? AND ? AND series_id IN (", ")");
            let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).bind(start).bind(end);
            for s in &series {
                count = count.bind(s.id.0);
            }
            u64::try_from(count.fetch_one(&mut *conn).await.or_store("counting samples")?).unwrap_or_default()
        };
        let truncated = total > points.len() as u64;
        let rows = series
            .into_iter()
            .map(|s| (s.id.0, encode_agent(s.key.agent.as_ref()).to_owned(), encode_tags(&s.key.tags)))
            .map(|(id, a, t)| t.map(|t| (id, a, t)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RawQueryResult { series: group_points(rows, points)?, total, truncated })
    }
}

/// Records the batch's dedupe ids and returns the positions of samples to skip, ascending:
/// those whose id the tenant sent in an earlier batch, and repeats of an id within this batch
/// (the first occurrence wins).
///
/// Known ids are looked up before the new ones are inserted (safe: the caller holds the write
/// lock) rather than learnt from `INSERT .. RETURNING`: the lookup streams back only the
/// duplicates, usually none, where `RETURNING` returns a row for every new id.
async fn claim_dedupe_ids(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    batch: &[Sample],
) -> Result<Vec<usize>, StoreError> {
    let (candidates, mut duplicates) = dedupe_candidates(batch);
    if candidates.is_empty() {
        return Ok(duplicates);
    }

    let mut known: HashSet<String> = HashSet::new();
    for chunk in candidates.chunks(CHUNK_ROWS) {
        let sql = repeated_sql(
            "SELECT dedupe_id FROM dedupe WHERE tenant_id = ? AND dedupe_id IN (",
            "?",
            chunk.len(),
            ")",
        );
        let mut lookup = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql)).bind(tenant.get());
        for &(_, id, _) in chunk {
            lookup = lookup.bind(id);
        }
        known.extend(lookup.fetch_all(&mut *conn).await.or_store("looking up dedupe ids")?);
    }
    let (repeated, new): (Vec<_>, Vec<_>) =
        candidates.into_iter().partition(|(_, id, _)| known.contains(*id));
    duplicates.extend(repeated.into_iter().map(|(i, _, _)| i));
    duplicates.sort_unstable();

    for chunk in new.chunks(CHUNK_ROWS) {
        let sql = repeated_sql(
            "INSERT INTO dedupe (tenant_id, dedupe_id, ts) VALUES ",
            "(?,?,?)",
            chunk.len(),
            " ON CONFLICT (tenant_id, dedupe_id) DO NOTHING",
        );
        let mut insert = sqlx::query(AssertSqlSafe(sql));
        for &(_, id, ts) in chunk {
            insert = insert.bind(tenant.get()).bind(id).bind(ts);
        }
        insert.execute(&mut *conn).await.or_store("recording dedupe ids")?;
    }
    Ok(duplicates)
}

/// Upserts `batch[i]` for every `i` in `kept`: a sample for a series and millisecond that
/// already has one replaces its value (within the batch too: the later one wins).
async fn insert_samples(
    conn: &mut SqliteConnection,
    batch: &[Sample],
    kept: &[usize],
    series_ids: &[i64],
) -> Result<(), StoreError> {
    for chunk in kept.chunks(CHUNK_ROWS) {
        let sql = repeated_sql(
            "INSERT INTO samples (series_id, ts, value) VALUES ",
            "(?,?,?)",
            chunk.len(),
            " ON CONFLICT (series_id, ts) DO UPDATE SET value = excluded.value",
        );
        let mut insert = sqlx::query(AssertSqlSafe(sql));
        for &i in chunk {
            insert = insert.bind(series_ids[i]).bind(batch[i].timestamp.as_millis()).bind(batch[i].value);
        }
        insert.execute(&mut *conn).await.or_store("inserting samples")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteOptions;

    /// The raw query must walk the tenant's series through the unique index and read each
    /// series' time range from the samples key; a full scan of `samples` would make every
    /// query as slow as the whole table is large.
    #[tokio::test]
    async fn raw_queries_use_the_series_index_and_the_samples_key() {
        let store =
            SqliteStore::connect(&SqliteOptions { url: "sqlite::memory:".into(), read_connections: 1 })
                .await
                .unwrap();
        for (sql, has_limit) in [(POINTS_SQL, true), (COUNT_SQL, false)] {
            let mut explain = sqlx::query_as::<_, (i64, i64, i64, String)>(AssertSqlSafe(format!(
                "EXPLAIN QUERY PLAN {sql}"
            )))
            .bind(1_i64)
            .bind("m")
            .bind(None::<&str>)
            .bind(0_i64)
            .bind(1_i64);
            if has_limit {
                explain = explain.bind(10_i64);
            }
            let plan = explain.fetch_all(&store.read).await.unwrap();
            let plan: Vec<String> = plan.into_iter().map(|row| row.3).collect();
            assert!(plan.iter().any(|p| p.starts_with("SEARCH s USING") && p.contains("INDEX")), "{plan:?}");
            assert!(plan.iter().any(|p| p.starts_with("SEARCH p USING PRIMARY KEY")), "{plan:?}");
            assert!(!plan.iter().any(|p| p.starts_with("SCAN p")), "{plan:?}");
        }
    }
}
