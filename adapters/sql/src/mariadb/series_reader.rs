//! [`SeriesReader`] on MariaDB: series by metric (then agent and tags, filtered in Rust from the
//! canonical tag JSON), and points read per series as range scans of the `samples` key.

use std::collections::HashSet;

use async_trait::async_trait;
use microdash_domain::{AgentId, MetricName, TenantId, Timestamp};
use microdash_usecases::ports::{
    SeriesFilter, SeriesId, SeriesPoints, SeriesReader, StoreError, StoredSeries,
};
use sqlx::{AssertSqlSafe, MySqlConnection};

use super::{MariaDbStore, to_i64};
use crate::error::SqlxResultExt;
use crate::stored::{SERIES_PER_STATEMENT, agent_metric_pairs, group_by_series, selected};
use crate::stored::{encode_agent, repeated_sql};

#[async_trait]
impl SeriesReader for MariaDbStore {
    async fn series(&self, tenant: TenantId, filter: &SeriesFilter) -> Result<Vec<StoredSeries>, StoreError> {
        let agent = filter.agent.as_ref().map(|a| encode_agent(Some(a)));
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT id, agent_id, tags FROM series WHERE tenant_id = ? AND metric = ? AND (? IS NULL OR agent_id = ?)",
        )
        .bind(tenant.get())
        .bind(filter.metric.as_str())
        .bind(agent)
        .bind(agent)
        .fetch_all(&self.pool)
        .await
        .or_store("reading series")?;
        selected(filter, rows)
    }

    async fn series_ids(&self, tenant: TenantId) -> Result<Vec<SeriesId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM series WHERE tenant_id = ? ORDER BY id")
            .bind(tenant.get())
            .fetch_all(&self.pool)
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
        // Ownership first, then an IN list on the first key part and a range on the second:
        // InnoDB reads exactly each series' time range, where a join would read whole series.
        let mut conn = self.pool.acquire().await.or_store("starting a read")?;
        let owned = owned_ids(&mut conn, tenant, series).await?;
        let (start, end) = (start.as_millis(), end.as_millis());
        let mut rows: Vec<(SeriesId, (Timestamp, f64))> = Vec::new();
        match limit_per_series {
            Some(limit) => {
                for id in &owned {
                    let points: Vec<(i64, f64)> = sqlx::query_as(
                        "SELECT ts, value FROM samples WHERE series_id = ? AND ts BETWEEN ? AND ? ORDER BY ts LIMIT ?",
                    )
                    .bind(id.0)
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
                for group in owned.chunks(SERIES_PER_STATEMENT) {
                    let sql = repeated_sql(
                        "SELECT series_id, ts, value FROM samples WHERE ts BETWEEN ? AND ? AND series_id IN (",
                        "?",
                        group.len(),
                        ") ORDER BY series_id, ts",
                    );
                    let mut q =
                        sqlx::query_as::<_, (i64, i64, f64)>(AssertSqlSafe(sql)).bind(start).bind(end);
                    for id in group {
                        q = q.bind(id.0);
                    }
                    let points = q.fetch_all(&mut *conn).await.or_store("reading samples")?;
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
        let agent = agent.as_ref().map(AgentId::as_str);
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT agent_id, metric FROM series WHERE tenant_id = ? AND agent_id <> '' \
             AND (? IS NULL OR agent_id = ?) ORDER BY agent_id, metric",
        )
        .bind(tenant.get())
        .bind(agent)
        .bind(agent)
        .fetch_all(&self.pool)
        .await
        .or_store("listing agent metrics")?;
        agent_metric_pairs(rows)
    }
}

/// The ids among `series` that belong to `tenant`, in the order given.
pub(super) async fn owned_ids(
    conn: &mut MySqlConnection,
    tenant: TenantId,
    series: &[SeriesId],
) -> Result<Vec<SeriesId>, StoreError> {
    let mut owned = HashSet::new();
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
