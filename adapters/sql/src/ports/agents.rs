//! [`AgentRegistry`]: one upserted row per (tenant, agent), all of a call's sightings in one
//! multi-row statement per chunk. The stored rows are read first (with a locking read where
//! writers are concurrent), so each agent's interval is learnt in Rust (the domain's rule)
//! from what is stored, without another worker updating it in between.

use std::collections::HashMap;

use async_trait::async_trait;
use microdash_domain::agent_status::learn_interval;
use microdash_domain::{AgentId, TenantId};
use microdash_usecases::ports::{AgentInfo, AgentRegistry, AgentSeen, StoreError};
use sqlx::AssertSqlSafe;

use super::{DIALECT, Store};
use crate::dialect::repeated_sql;
use crate::error::SqlxResultExt;
use crate::stored::rows::{AgentRow, agent_columns};
use crate::stored::to_i64;

#[async_trait]
impl AgentRegistry for Store {
    async fn record(&self, tenant: TenantId, seen: &[AgentSeen]) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        // Sightings can arrive out of order (several workers, retries), hence the smaller and
        // larger of stored and new rather than overwriting. Rows go in agent order so that two
        // workers recording the same agents lock them in the same order and cannot deadlock.
        let mut sorted: Vec<&AgentSeen> = seen.iter().collect();
        sorted.sort_by(|a, b| a.agent.as_str().as_bytes().cmp(b.agent.as_str().as_bytes()));
        let (least, greatest) = (DIALECT.least(), DIALECT.greatest());
        let new = |column| DIALECT.inserted(column);
        let upsert = format!(
            "{}first_seen = {least}(first_seen, {}), last_seen = {greatest}(last_seen, {}), \
             last_sample_at = {greatest}(last_sample_at, {}), samples = samples + {}, interval_ms = {}",
            DIALECT.upsert("tenant_id, agent_id"),
            new("first_seen"),
            new("last_seen"),
            new("last_sample_at"),
            new("samples"),
            new("interval_ms"),
        );
        let lock = DIALECT.for_update();
        let mut tx =
            self.write.begin_with(DIALECT.begin_write()).await.or_store("starting to record agents")?;
        for chunk in sorted.chunks(DIALECT.rows_per_statement()) {
            let sql = repeated_sql(
                "SELECT agent_id, last_sample_at, interval_ms FROM agents WHERE tenant_id = ? AND agent_id IN (",
                "?",
                chunk.len(),
                &format!("){lock}"),
            );
            let mut select =
                sqlx::query_as::<_, (String, i64, Option<i64>)>(AssertSqlSafe(sql)).bind(tenant.get());
            for s in chunk {
                select = select.bind(s.agent.as_str());
            }
            let mut stored: HashMap<String, (i64, Option<i64>)> = select
                .fetch_all(&mut *tx)
                .await
                .or_store("reading agents")?
                .into_iter()
                .map(|(a, last, interval)| (a, (last, interval)))
                .collect();
            let mut intervals = Vec::with_capacity(chunk.len());
            for s in chunk {
                let at = s.last_sample_at.as_millis();
                let interval = match stored.get_mut(s.agent.as_str()) {
                    Some((last, interval)) => {
                        *interval = learn_interval(*interval, at - *last);
                        *last = (*last).max(at);
                        *interval
                    }
                    None => {
                        stored.insert(s.agent.as_str().to_owned(), (at, None));
                        None
                    }
                };
                intervals.push(interval);
            }
            let sql = repeated_sql(
                "INSERT INTO agents (tenant_id, agent_id, first_seen, last_seen, last_sample_at, samples, interval_ms) VALUES ",
                "(?,?,?,?,?,?,?)",
                chunk.len(),
                &upsert,
            );
            let mut insert = sqlx::query(AssertSqlSafe(sql));
            for (s, interval) in chunk.iter().zip(intervals) {
                insert = insert
                    .bind(tenant.get())
                    .bind(s.agent.as_str())
                    .bind(s.received_at.as_millis())
                    .bind(s.received_at.as_millis())
                    .bind(s.last_sample_at.as_millis())
                    .bind(to_i64(s.samples))
                    .bind(interval);
            }
            insert.execute(&mut *tx).await.or_store("recording agents")?;
        }
        tx.commit().await.or_store("committing agents")
    }

    async fn list(&self, tenant: TenantId) -> Result<Vec<AgentInfo>, StoreError> {
        let rows: Vec<AgentRow> = sqlx::query_as(concat!(
            "SELECT ",
            agent_columns!(),
            " FROM agents WHERE tenant_id = ? ORDER BY agent_id"
        ))
        .bind(tenant.get())
        .fetch_all(&self.read)
        .await
        .or_store("listing agents")?;
        rows.into_iter().map(AgentInfo::try_from).collect()
    }

    async fn find(&self, tenant: TenantId, agent: &AgentId) -> Result<Option<AgentInfo>, StoreError> {
        let row: Option<AgentRow> = sqlx::query_as(concat!(
            "SELECT ",
            agent_columns!(),
            " FROM agents WHERE tenant_id = ? AND agent_id = ?"
        ))
        .bind(tenant.get())
        .bind(agent.as_str())
        .fetch_optional(&self.read)
        .await
        .or_store("finding an agent")?;
        row.map(AgentInfo::try_from).transpose()
    }
}
