//! Series ids: how a [`SeriesKey`] becomes the integer every sample row carries.
//!
//! Ingest looks ids up in [`SeriesCache`] first; only series it has not seen since start-up
//! cost a `SELECT` (and an `INSERT` when new) inside the batch's transaction. Ids enter the cache
//! only after that transaction commits: a rolled-back `INSERT` frees its id, and SQLite hands
//! the same id to the next new series.
//!
//! Nothing deletes series today. Whatever does so later (retention of idle series) must also
//! empty this cache, or ingest would keep writing to the deleted ids.

use std::collections::HashMap;

use microdash_domain::sample::SeriesKey;
use microdash_domain::{Sample, TenantId};
use microdash_usecases::ports::StoreError;
use sqlx::SqliteConnection;

use crate::error::SqlxResultExt;
use crate::series_cache::SeriesCache;
use crate::stored::{encode_agent, encode_tags};

/// Series ids for `batch[i]` for every `i` in `kept`, found or created through `conn` (which
/// must be inside the batch's transaction). Returns the ids, indexed like `batch` (0 for
/// positions not in `kept`), and the ids to hand to [`SeriesCache::remember`] after commit.
pub(crate) async fn resolve(
    cache: &SeriesCache,
    conn: &mut SqliteConnection,
    tenant: TenantId,
    batch: &[Sample],
    kept: &[usize],
) -> Result<(Vec<i64>, Vec<(SeriesKey, i64)>), StoreError> {
    let mut ids = vec![0; batch.len()];
    let misses = cache.lookup(tenant, batch, kept, &mut ids);

    let mut found: HashMap<&SeriesKey, i64> = HashMap::new();
    for i in misses {
        let key = &batch[i].series;
        let id = match found.get(key) {
            Some(&id) => id,
            None => {
                let id = find_or_create(conn, tenant, key).await?;
                found.insert(key, id);
                id
            }
        };
        ids[i] = id;
    }
    let fresh = found.into_iter().map(|(key, id)| (key.clone(), id)).collect();
    Ok((ids, fresh))
}

async fn find_or_create(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    key: &SeriesKey,
) -> Result<i64, StoreError> {
    let agent = encode_agent(key.agent.as_ref());
    let tags = encode_tags(&key.tags)?;
    let existing: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM series WHERE tenant_id = ?1 AND metric = ?2 AND agent_id = ?3 AND tags = ?4",
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
    sqlx::query_scalar(
        "INSERT INTO series (tenant_id, metric, agent_id, tags) VALUES (?1, ?2, ?3, ?4) RETURNING id",
    )
    .bind(tenant.get())
    .bind(key.metric.as_str())
    .bind(agent)
    .bind(&tags)
    .fetch_one(&mut *conn)
    .await
    .or_store("creating a series")
}
