//! Series ids: how a [`SeriesKey`] becomes the integer every sample row carries.
//!
//! Ingest looks ids up in [`SeriesCache`] first; only series it has not seen since start-up
//! cost a `SELECT` (and an `INSERT` when new) inside the batch's transaction. Ids enter the cache
//! only after that transaction commits: a rolled-back `INSERT` frees its id, and SQLite hands
//! the same id to the next new series.
//!
//! Nothing deletes series today. Whatever does so later (retention of idle series) must also
//! empty this cache, or ingest would keep writing to the deleted ids.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use microdash_domain::sample::SeriesKey;
use microdash_domain::{AgentId, Sample, Tags, TenantId};
use microdash_usecases::ports::StoreError;
use sqlx::SqliteConnection;

use crate::error::{SqlxResultExt, corrupt};

/// Most series ids kept in memory, over all tenants (about 200 bytes each); one batch may go
/// past it, the next starts the cache over. A cardinality explosion then costs lookups, not
/// memory.
const MAX_CACHED_SERIES: usize = 1_000_000;

/// Stored form of "no agent".
const NO_AGENT: &str = "";

/// Committed series ids, per tenant.
#[derive(Debug)]
pub(crate) struct SeriesCache {
    /// Held only for map operations, never across an `.await`.
    ids: Mutex<CachedIds>,
    /// [`MAX_CACHED_SERIES`], smaller in tests.
    capacity: usize,
}

impl Default for SeriesCache {
    fn default() -> Self {
        Self::with_capacity(MAX_CACHED_SERIES)
    }
}

#[derive(Debug, Default)]
struct CachedIds {
    by_tenant: HashMap<TenantId, HashMap<SeriesKey, i64>>,
    len: usize,
}

impl SeriesCache {
    fn with_capacity(capacity: usize) -> Self {
        Self { ids: Mutex::default(), capacity }
    }

    fn lock(&self) -> MutexGuard<'_, CachedIds> {
        // Entries are inserted whole, so a panic elsewhere cannot leave the map inconsistent.
        self.ids.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds ids whose transaction has committed.
    pub(crate) fn remember(&self, tenant: TenantId, committed: Vec<(SeriesKey, i64)>) {
        if committed.is_empty() {
            return;
        }
        let mut ids = self.lock();
        if ids.len >= self.capacity {
            *ids = CachedIds::default();
        }
        let tenant_ids = ids.by_tenant.entry(tenant).or_default();
        let before = tenant_ids.len();
        tenant_ids.extend(committed);
        let added = tenant_ids.len() - before;
        ids.len += added;
    }
}

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
    let mut misses = Vec::new();
    {
        let cached = cache.lock();
        let tenant_ids = cached.by_tenant.get(&tenant);
        for &i in kept {
            match tenant_ids.and_then(|m| m.get(&batch[i].series)) {
                Some(&id) => ids[i] = id,
                None => misses.push(i),
            }
        }
    }

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

/// The stored form of a sample's agent: its id, or `''` for none.
pub(crate) fn encode_agent(agent: Option<&AgentId>) -> &str {
    agent.map_or(NO_AGENT, AgentId::as_str)
}

/// Reads a stored agent back.
pub(crate) fn decode_agent(stored: String) -> Result<Option<AgentId>, StoreError> {
    if stored == NO_AGENT {
        return Ok(None);
    }
    AgentId::new(stored).map(Some).map_err(|e| corrupt("series agent id", e))
}

/// The canonical JSON of a tag set: keys sorted (they are, in a `BTreeMap`), `{}` when empty,
/// so equal tag sets are equal strings and the unique index can tell series apart.
pub(crate) fn encode_tags(tags: &Tags) -> Result<String, StoreError> {
    if tags.is_empty() {
        return Ok("{}".to_owned());
    }
    serde_json::to_string(tags.as_map()).map_err(|e| StoreError::unavailable("encoding series tags", e))
}

/// Reads stored tags back.
pub(crate) fn decode_tags(stored: &str) -> Result<Tags, StoreError> {
    let map: BTreeMap<String, String> =
        serde_json::from_str(stored).map_err(|e| corrupt("series tags", e))?;
    Tags::new(map).map_err(|e| corrupt("series tags", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_through_their_canonical_json() {
        let map = BTreeMap::from([("mount".to_owned(), "/".to_owned()), ("core".to_owned(), "0".to_owned())]);
        let tags = Tags::new(map).unwrap();
        let json = encode_tags(&tags).unwrap();
        assert_eq!(json, r#"{"core":"0","mount":"/"}"#);
        assert_eq!(decode_tags(&json).unwrap(), tags);
        assert_eq!(encode_tags(&Tags::empty()).unwrap(), "{}");
        assert_eq!(decode_tags("{}").unwrap(), Tags::empty());
    }

    #[test]
    fn the_empty_agent_id_means_no_agent() {
        assert_eq!(encode_agent(None), "");
        assert_eq!(decode_agent(String::new()).unwrap(), None);
        let agent = AgentId::new("h1").unwrap();
        assert_eq!(decode_agent(encode_agent(Some(&agent)).to_owned()).unwrap(), Some(agent));
    }

    #[test]
    fn the_cache_starts_over_instead_of_growing_past_its_bound() {
        let cache = SeriesCache::with_capacity(3);
        let key = |n: usize| SeriesKey {
            metric: microdash_domain::MetricName::new(format!("m{n}")).unwrap(),
            agent: None,
            tags: Tags::empty(),
        };
        let tenant = TenantId::new(1);
        cache.remember(tenant, (0..2).map(|n| (key(n), n as i64)).collect());
        cache.remember(tenant, vec![(key(0), 0)]);
        assert_eq!(cache.lock().len, 2, "a known series is not counted twice");
        cache.remember(tenant, vec![(key(2), 2)]);
        assert_eq!(cache.lock().len, 3);
        cache.remember(tenant, vec![(key(3), 3)]);
        let ids = cache.lock();
        assert_eq!(ids.len, 1);
        assert_eq!(ids.by_tenant[&tenant].get(&key(3)), Some(&3));
    }
}
