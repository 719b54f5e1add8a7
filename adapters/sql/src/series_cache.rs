//! The series-id cache both SQL stores put in front of their `series` table: committed
//! (tenant, [`SeriesKey`]) → id entries, so that ingest rarely reads that table. Ids enter it
//! only after the transaction that created them commits (a rolled-back id may be handed to
//! another series). Not a general cache: it never evicts single entries, it starts over when
//! full.
//!
//! Nothing deletes series today. Whatever does so later (retention of idle series) must also
//! empty this cache, or ingest would keep writing to the deleted ids.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use microdash_domain::sample::SeriesKey;
use microdash_domain::{Sample, TenantId};

/// Most series ids kept in memory, over all tenants (about 200 bytes each); one batch may go
/// past it, the next starts the cache over. A cardinality explosion then costs lookups, not
/// memory.
const MAX_CACHED_SERIES: usize = 1_000_000;

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

    /// Fills `ids[i]` for every `i` in `kept` whose series is cached for `tenant`, and returns
    /// the positions that were not.
    pub(crate) fn lookup(
        &self,
        tenant: TenantId,
        batch: &[Sample],
        kept: &[usize],
        ids: &mut [i64],
    ) -> Vec<usize> {
        let mut misses = Vec::new();
        let cached = self.lock();
        let tenant_ids = cached.by_tenant.get(&tenant);
        for &i in kept {
            match tenant_ids.and_then(|m| m.get(&batch[i].series)) {
                Some(&id) => ids[i] = id,
                None => misses.push(i),
            }
        }
        misses
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

#[cfg(test)]
mod tests {
    use microdash_domain::Tags;

    use super::*;

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
