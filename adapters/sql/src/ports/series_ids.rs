//! Series ids: how a [`SeriesKey`] becomes the integer every sample row carries.
//!
//! Ingest looks ids up in the store's [`SeriesCache`] first; only series it has not seen since
//! start-up cost a `SELECT` (and an `INSERT` when new) inside the batch's transaction. Ids
//! enter the cache only after that transaction commits (see [`SeriesCache`]). New series are
//! created in key order, so two writers creating the same series lock them in the same order;
//! the second waits for the first's row and then gets its id.

use std::collections::BTreeMap;

use microdash_domain::sample::SeriesKey;
use microdash_domain::{Sample, TenantId};
use microdash_usecases::ports::StoreError;
use sqlx::AssertSqlSafe;

use super::{Connection, DIALECT};
use crate::error::SqlxResultExt;
use crate::series_cache::SeriesCache;
use crate::stored::{encode_agent, encode_tags};

/// Series ids for `batch[i]` for every `i` in `kept`, found or created through `conn` (which
/// must be inside the batch's transaction). Returns the ids, indexed like `batch` (0 for
/// positions not in `kept`), and the ids to hand to [`SeriesCache::remember`] after commit.
pub(super) async fn resolve(
    cache: &SeriesCache,
    conn: &mut Connection,
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

async fn find_or_create(conn: &mut Connection, tenant: TenantId, key: &SeriesKey) -> Result<i64, StoreError> {
    let agent = encode_agent(key.agent.as_ref());
    let tags = encode_tags(&key.tags)?;
    let lookup = format!(
        "SELECT id FROM series WHERE tenant_id = ? AND metric = ? AND agent_id = ? AND {}",
        DIALECT.tags_match()
    );
    let existing: Option<i64> = sqlx::query_scalar(AssertSqlSafe(lookup))
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
    // A concurrent writer may have created it since the SELECT (not on a single writer): the
    // upsert then waits for that writer's row and returns its id instead of a new one.
    let create = format!(
        "INSERT INTO series (tenant_id, metric, agent_id, tags) VALUES (?, ?, ?, ?){}id = id RETURNING id",
        DIALECT.upsert("tenant_id, metric, agent_id, tags")
    );
    sqlx::query_scalar(AssertSqlSafe(create))
        .bind(tenant.get())
        .bind(key.metric.as_str())
        .bind(agent)
        .bind(&tags)
        .fetch_one(&mut *conn)
        .await
        .or_store("creating a series")
}
