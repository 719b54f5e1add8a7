//! [`AgentRegistry`] on MariaDB: one upserted row per (tenant, agent), all of a call's
//! sightings in one multi-row statement.

use async_trait::async_trait;
use microdash_domain::TenantId;
use microdash_usecases::ports::{AgentInfo, AgentRegistry, AgentSeen, StoreError};
use sqlx::AssertSqlSafe;

use super::{MariaDbStore, to_i64};
use crate::error::SqlxResultExt;
use crate::rows::AgentRow;
use crate::stored::repeated_sql;

/// Sightings per statement: 6,000 placeholders, well below the protocol's 65,535.
const CHUNK_ROWS: usize = 1_000;

#[async_trait]
impl AgentRegistry for MariaDbStore {
    async fn record(&self, tenant: TenantId, seen: &[AgentSeen]) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        // Sightings can arrive out of order (several workers, retries), hence LEAST/GREATEST
        // rather than overwriting. Rows go in agent order so that two workers recording the
        // same agents lock them in the same order and cannot deadlock.
        let mut sorted: Vec<&AgentSeen> = seen.iter().collect();
        sorted.sort_by(|a, b| a.agent.as_str().as_bytes().cmp(b.agent.as_str().as_bytes()));
        let mut tx = self.pool.begin().await.or_store("starting to record agents")?;
        for chunk in sorted.chunks(CHUNK_ROWS) {
            let sql = repeated_sql(
                "INSERT INTO agents (tenant_id, agent_id, first_seen, last_seen, last_sample_at, samples) VALUES ",
                "(?,?,?,?,?,?)",
                chunk.len(),
                " ON DUPLICATE KEY UPDATE \
                 first_seen = LEAST(first_seen, VALUES(first_seen)), \
                 last_seen = GREATEST(last_seen, VALUES(last_seen)), \
                 last_sample_at = GREATEST(last_sample_at, VALUES(last_sample_at)), \
                 samples = samples + VALUES(samples)",
            );
            let mut insert = sqlx::query(AssertSqlSafe(sql));
            for s in chunk {
                insert = insert
                    .bind(tenant.get())
                    .bind(s.agent.as_str())
                    .bind(s.received_at.as_millis())
                    .bind(s.received_at.as_millis())
                    .bind(s.last_sample_at.as_millis())
                    .bind(to_i64(s.samples));
            }
            insert.execute(&mut *tx).await.or_store("recording agents")?;
        }
        tx.commit().await.or_store("committing agents")
    }

    async fn list(&self, tenant: TenantId) -> Result<Vec<AgentInfo>, StoreError> {
        let rows: Vec<AgentRow> = sqlx::query_as(
            "SELECT agent_id, first_seen, last_seen, last_sample_at, samples \
             FROM agents WHERE tenant_id = ? ORDER BY agent_id",
        )
        .bind(tenant.get())
        .fetch_all(&self.pool)
        .await
        .or_store("listing agents")?;
        rows.into_iter().map(AgentInfo::try_from).collect()
    }
}
