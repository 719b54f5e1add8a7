//! [`AgentRegistry`] on SQLite: one upserted row per (tenant, agent), its interval learnt in
//! Rust (the domain's rule) from the stored row, within the writer's transaction.

use async_trait::async_trait;
use microdash_domain::agent_status::learn_interval;
use microdash_domain::{AgentId, TenantId};
use microdash_usecases::ports::{AgentInfo, AgentRegistry, AgentSeen, StoreError};

use super::{SqliteStore, to_i64};
use crate::error::SqlxResultExt;
use crate::stored::rows::{AgentRow, agent_columns};

#[async_trait]
impl AgentRegistry for SqliteStore {
    async fn record(&self, tenant: TenantId, seen: &[AgentSeen]) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        // Sightings can arrive out of order (several workers, retries), hence min/max rather
        // than overwriting.
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await.or_store("starting to record agents")?;
        for s in seen {
            let stored: Option<(i64, Option<i64>)> = sqlx::query_as(
                "SELECT last_sample_at, interval_ms FROM agents WHERE tenant_id = ?1 AND agent_id = ?2",
            )
            .bind(tenant.get())
            .bind(s.agent.as_str())
            .fetch_optional(&mut *tx)
            .await
            .or_store("reading an agent")?;
            let interval = stored
                .and_then(|(last, interval)| learn_interval(interval, s.last_sample_at.as_millis() - last));
            sqlx::query(
                "INSERT INTO agents (tenant_id, agent_id, first_seen, last_seen, last_sample_at, samples, interval_ms) \
                 VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (tenant_id, agent_id) DO UPDATE SET \
                 first_seen = MIN(first_seen, excluded.first_seen), \
                 last_seen = MAX(last_seen, excluded.last_seen), \
                 last_sample_at = MAX(last_sample_at, excluded.last_sample_at), \
                 samples = samples + excluded.samples, \
                 interval_ms = excluded.interval_ms",
            )
            .bind(tenant.get())
            .bind(s.agent.as_str())
            .bind(s.received_at.as_millis())
            .bind(s.last_sample_at.as_millis())
            .bind(to_i64(s.samples))
            .bind(interval)
            .execute(&mut *tx)
            .await
            .or_store("recording an agent")?;
        }
        tx.commit().await.or_store("committing agents")
    }

    async fn list(&self, tenant: TenantId) -> Result<Vec<AgentInfo>, StoreError> {
        let rows: Vec<AgentRow> = sqlx::query_as(concat!(
            "SELECT ",
            agent_columns!(),
            " FROM agents WHERE tenant_id = ?1 ORDER BY agent_id"
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
            " FROM agents WHERE tenant_id = ?1 AND agent_id = ?2"
        ))
        .bind(tenant.get())
        .bind(agent.as_str())
        .fetch_optional(&self.read)
        .await
        .or_store("finding an agent")?;
        row.map(AgentInfo::try_from).transpose()
    }
}
