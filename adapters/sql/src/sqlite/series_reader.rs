//! [`SeriesReader`] on SQLite: series by metric (then agent and tags, filtered in Rust from the
//! canonical tag JSON), and points read per series from the `samples` key.

use async_trait::async_trait;
use microdash_domain::{AgentId, MetricName, TenantId, Timestamp};
use microdash_usecases::ports::{
    SeriesFilter, SeriesId, SeriesPoints, SeriesReader, StoreError, StoredSeries,
};
use sqlx::{AssertSqlSafe, SqliteConnection};

use super::{SqliteStore, to_i64};
use crate::error::SqlxResultExt;
use crate::stored::{SERIES_PER_STATEMENT, agent_metric_pairs, group_by_series, selected};
use crate::stored::{encode_agent, repeated_sql};

/// Points of a group of series: binds the tenant, then the series ids, then the range.
const POINTS_HEAD: &str = "SELECT p.series_id, p.ts, p.value FROM series s JOIN samples p ON p.series_id = s.id \
     WHERE s.tenant_id = ? AND s.id IN (";

/// The end of [`POINTS_HEAD`] after the series ids.
const POINTS_TAIL: &str = ") AND p.ts BETWEEN ? AND ? ORDER BY p.series_id, p.ts";

#[async_trait]
impl SeriesReader for SqliteStore {
    async fn series(&self, tenant: TenantId, filter: &SeriesFilter) -> Result<Vec<StoredSeries>, StoreError> {
        let agent = filter.agent.as_ref().map(|a| encode_agent(Some(a)));
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT id, agent_id, tags FROM series WHERE tenant_id = ?1 AND metric = ?2 AND (?3 IS NULL OR agent_id = ?3)",
        )
        .bind(tenant.get())
        .bind(filter.metric.as_str())
        .bind(agent)
        .fetch_all(&self.read)
        .await
        .or_store("reading series")?;
        selected(filter, rows)
    }

    async fn series_ids(&self, tenant: TenantId) -> Result<Vec<SeriesId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM series WHERE tenant_id = ?1 ORDER BY id")
            .bind(tenant.get())
            .fetch_all(&self.read)
            .await
            .or_store("listing series")?;
        Ok(ids.into_iter().map(SeriesId).collect())
    }

    async fn read_points(
        &self,
        tenant: TenantId,
        series: &[SeriesId],
        start: Timestamp,
        end: Timestamp,
        limit_per_series: Option<usize>,
    ) -> Result<Vec<SeriesPoints>, StoreError> {
        // The join on `series` keeps other tenants' series out in the same statement.
        let mut conn = self.read.acquire().await.or_store("starting a read")?;
        let (start, end) = (start.as_millis(), end.as_millis());
        let mut rows: Vec<(SeriesId, (Timestamp, f64))> = Vec::new();
        match limit_per_series {
            Some(limit) => {
                for id in series {
                    let points: Vec<(i64, f64)> = sqlx::query_as(
                        "SELECT p.ts, p.value FROM series s JOIN samples p ON p.series_id = s.id \
                         WHERE s.id = ?1 AND s.tenant_id = ?2 AND p.ts BETWEEN ?3 AND ?4 ORDER BY p.ts LIMIT ?5",
                    )
                    .bind(id.0)
                    .bind(tenant.get())
                    .bind(start)
                    .bind(end)
                    .bind(to_i64(limit))
                    .fetch_all(&mut *conn)
                    .await
                    .or_store("reading samples")?;
                    rows.extend(points.into_iter().map(|(ts, v)| (*id, (Timestamp::from_millis(ts), v))));
                }
            }
            None => {
                for group in series.chunks(SERIES_PER_STATEMENT) {
                    let sql = repeated_sql(POINTS_HEAD, "?", group.len(), POINTS_TAIL);
                    let mut q = sqlx::query_as::<_, (i64, i64, f64)>(AssertSqlSafe(sql)).bind(tenant.get());
                    for id in group {
                        q = q.bind(id.0);
                    }
                    let points =
                        q.bind(start).bind(end).fetch_all(&mut *conn).await.or_store("reading samples")?;
                    rows.extend(
                        points.into_iter().map(|(id, ts, v)| (SeriesId(id), (Timestamp::from_millis(ts), v))),
                    );
                }
            }
        }
        Ok(group_by_series(series, rows))
    }

    async fn agent_metrics(
        &self,
        tenant: TenantId,
        agent: Option<AgentId>,
    ) -> Result<Vec<(AgentId, MetricName)>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT agent_id, metric FROM series WHERE tenant_id = ?1 AND agent_id <> '' \
             AND (?2 IS NULL OR agent_id = ?2) ORDER BY agent_id, metric",
        )
        .bind(tenant.get())
        .bind(agent.as_ref().map(AgentId::as_str))
        .fetch_all(&self.read)
        .await
        .or_store("listing agent metrics")?;
        agent_metric_pairs(rows)
    }
}

/// The ids among `series` that belong to `tenant`, in the order given.
pub(super) async fn owned_ids(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    series: &[SeriesId],
) -> Result<Vec<SeriesId>, StoreError> {
    let mut owned = std::collections::HashSet::new();
    for group in series.chunks(SERIES_PER_STATEMENT) {
        let sql =
            repeated_sql("SELECT id FROM series WHERE tenant_id = ? AND id IN (", "?", group.len(), ")");
        let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).bind(tenant.get());
        for id in group {
            q = q.bind(id.0);
        }
        owned.extend(q.fetch_all(&mut *conn).await.or_store("checking series")?);
    }
    Ok(series.iter().copied().filter(|id| owned.contains(&id.0)).collect())
}

#[cfg(test)]
mod tests {
    use sqlx::AssertSqlSafe;

    use super::{POINTS_HEAD, POINTS_TAIL};
    use crate::sqlite::rollups::{FOLD_RAW_HEAD, FOLD_RAW_TAIL};
    use crate::sqlite::{SqliteOptions, SqliteStore};
    use crate::stored::repeated_sql;

    /// Reading points and folding them must walk each series' time range through the
    /// `samples` key; a scan of `samples` would make a chart as slow as the table is large.
    #[tokio::test]
    async fn points_and_folds_are_read_through_the_samples_key() {
        let store =
            SqliteStore::connect(&SqliteOptions { url: "sqlite::memory:".into(), read_connections: 1 })
                .await
                .unwrap();
        for (head, tail) in [(POINTS_HEAD, POINTS_TAIL), (FOLD_RAW_HEAD, FOLD_RAW_TAIL)] {
            let sql = format!("EXPLAIN QUERY PLAN {}", repeated_sql(head, "?", 2, tail));
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
                plan.iter().any(|p| p.starts_with("SEARCH p USING PRIMARY KEY (series_id=? AND ts")),
                "{plan:?}"
            );
            assert!(
                !plan.iter().any(|p| p.starts_with("SCAN p") || p.starts_with("SCAN samples")),
                "{plan:?}"
            );
        }
    }
}
