//! Series ids on MariaDB: how a [`SeriesKey`] becomes the BIGINT every sample row carries.
//!
//! Ingest looks ids up in the shared [`SeriesCache`] first; only series it has not seen since
//! start-up cost a `SELECT` (and an `INSERT` when new) inside the batch's transaction. New
//! series are created in key order, so two writers creating the same series lock them in the
//! same order; the second waits for the first's row and then reads its id.

use std::collections::BTreeMap;

use microdash_domain::sample::SeriesKey;
use microdash_domain::{Sample, TenantId};
use microdash_usecases::ports::StoreError;
use sqlx::MySqlConnection;

use crate::error::SqlxResultExt;
use crate::series_cache::SeriesCache;
use crate::stored::{encode_agent, encode_tags};

/// Series ids for `batch[i]` for every `i` in `kept`, found or created through `conn` (which
/// must be inside the batch's transaction). Returns the ids, indexed like `batch` (0 for
/// positions not in `kept`), and the ids to hand to [`SeriesCache::remember`] after commit.
pub(crate) async fn resolve(
    cache: &SeriesCache,
    conn: &mut MySqlConnection,
    tenant: TenantId,
    batch: &[Sample],
    kept: &[usize],
) -> Result<(Vec<i64>, Vec<(SeriesKey, i64)>), StoreError> {
    let mut ids = vec![0; batch.len()];
    let misses = cache.lookup(tenant, batch, kept, &mut ids);
    if misses.is_empty() {
        return Ok((ids, Vec::new()));
    }
    let mut wanted: BTreeMap<&SeriesKey, i64> = misses.iter().map(|&i| (&batch[i].series, 0)).collect();
    for (key, id) in &mut wanted {
        *id = find_or_create(conn, tenant, key).await?;
    }
    for i in misses {
        ids[i] = wanted[&batch[i].series];
    }
    let fresh = wanted.into_iter().map(|(key, id)| (key.clone(), id)).collect();
    Ok((ids, fresh))
}

async fn find_or_create(
    conn: &mut MySqlConnection,
    tenant: TenantId,
    key: &SeriesKey,
) -> Result<i64, StoreError> {
    let agent = encode_agent(key.agent.as_ref());
    let tags = encode_tags(&key.tags)?;
    let existing: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM series WHERE tenant_id = ? AND metric = ? AND agent_id = ? \
         AND tags_hash = UNHEX(SHA2(?, 256))",
    )
    .bind(tenant.get())
    .bind(key.metric.as_str())
    .bind(agent)
    .bind(&tags)
    .fetch_optional(&mut *conn)
    .await
    .or_store("looking up a series")?;
    if let Some(id) = existing {
        return Ok(id);
    }
    // Another writer may have created it since the SELECT: the upsert then waits for that
    // writer's row and LAST_INSERT_ID(id) hands back its id instead of a new one.
    let done = sqlx::query(
        "INSERT INTO series (tenant_id, metric, agent_id, tags) VALUES (?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)",
    )
    .bind(tenant.get())
    .bind(key.metric.as_str())
    .bind(agent)
    .bind(&tags)
    .execute(&mut *conn)
    .await
    .or_store("creating a series")?;
    i64::try_from(done.last_insert_id()).map_err(|e| StoreError::unavailable("series id out of range", e))
}
