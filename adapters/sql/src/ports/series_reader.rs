//! [`SeriesReader`]: series by metric (then agent and tags, filtered in Rust from the
//! canonical tag JSON), and points read per series as range scans of the `samples` key.

use std::sync::Arc;

use async_trait::async_trait;
use microdash_domain::{AgentId, MetricName, TenantId, Timestamp};
use microdash_usecases::ports::{
    SeriesFilter, SeriesId, SeriesPoints, SeriesReader, StoreError, StoredSeries,
};
use sqlx::AssertSqlSafe;

use super::{DIALECT, SERIES_PER_STATEMENT, Store, listable, series_rows_from};
use crate::dialect::repeated_sql;
use crate::error::SqlxResultExt;
use crate::stored::{agent_metric_pairs, group_by_series, selected, to_i64};

#[async_trait]
impl SeriesReader for Store {
    async fn series(&self, tenant: TenantId, filter: &SeriesFilter) -> Result<Vec<StoredSeries>, StoreError> {
        let agent = filter.agent.as_ref().map(AgentId::as_str);
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT id, agent_id, tags FROM series WHERE tenant_id = ? AND metric = ? AND (? IS NULL OR agent_id = ?)",
        )
        .bind(tenant.get())
        .bind(filter.metric.as_str())
        .bind(agent)
        .bind(agent)
        .fetch_all(&self.read)
        .await
        .or_store("reading series")?;
        selected(filter, rows)
    }

    async fn series_ids(&self, tenant: TenantId) -> Result<Vec<SeriesId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM series WHERE tenant_id = ? ORDER BY id")
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
        let mut conn = self.read.acquire().await.or_store("starting a read")?;
        let listed = listable(&mut conn, tenant, series).await?;
        let (start, end) = (start.as_millis(), end.as_millis());
        let mut rows: Vec<(SeriesId, (Timestamp, f64))> = Vec::new();
        match limit_per_series {
            Some(limit) => {
                let from = series_rows_from("samples", "p");
                let sql: Arc<str> =
                    format!("SELECT p.ts, p.value {from}?) AND p.ts BETWEEN ? AND ? ORDER BY p.ts LIMIT ?")
                        .into();
                for id in listed.iter() {
                    let mut q = sqlx::query_as::<_, (i64, f64)>(AssertSqlSafe(Arc::clone(&sql)));
                    if DIALECT.joins_series() {
                        q = q.bind(tenant.get());
                    }
                    let points =
                        q.bind(id.0).bind(start).bind(end).bind(to_i64(limit)).fetch_all(&mut *conn).await;
                    rows.extend(
                        points
                            .or_store("reading samples")?
                            .into_iter()
                            .map(|(ts, v)| (*id, (Timestamp::from_millis(ts), v))),
                    );
                }
            }
            None => {
                for group in listed.chunks(SERIES_PER_STATEMENT) {
                    let mut q = sqlx::query_as::<_, (i64, i64, f64)>(AssertSqlSafe(points_sql(group.len())));
                    if DIALECT.joins_series() {
                        q = q.bind(tenant.get());
                    }
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
        let agent = agent.as_ref().map(AgentId::as_str);
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT agent_id, metric FROM series WHERE tenant_id = ? AND agent_id <> '' \
             AND (? IS NULL OR agent_id = ?) ORDER BY agent_id, metric",
        )
        .bind(tenant.get())
        .bind(agent)
        .bind(agent)
        .fetch_all(&self.read)
        .await
        .or_store("listing agent metrics")?;
        agent_metric_pairs(rows)
    }
}

/// Points of `n` listed series in a range, in key order; binds the tenant where the dialect
/// joins `series`, then the series ids, then the range.
pub(crate) fn points_sql(n: usize) -> String {
    let head = format!("SELECT p.series_id, p.ts, p.value {}", series_rows_from("samples", "p"));
    repeated_sql(&head, "?", n, ") AND p.ts BETWEEN ? AND ? ORDER BY p.series_id, p.ts")
}
