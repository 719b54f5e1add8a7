//! Tenants by slug, for the MQTT bridge: a bridged message names its tenant in the topic (the
//! external broker's ACL vouches for it), and ingest needs that tenant's id, quota and
//! retention. Lookups are cached briefly, so a busy bridge costs one store read per tenant per
//! second, and a quota change still takes effect within a second.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use microdash_domain::{Tenant, TenantSlug, Timestamp};

use crate::ports::{ClockRef, StoreError, TenantRepoRef};

/// How long a lookup is trusted, unknown slugs included (so that a stream of messages for a
/// tenant that does not exist costs one read per second, not one per message).
const CACHE_TTL: Duration = Duration::from_secs(1);

/// Cache entries kept at most; beyond it the cache starts over, which bounds memory against
/// topics with ever new tenant slugs.
const CACHE_CAPACITY: usize = 10_000;

/// Resolves tenant slugs, with a short cache.
pub struct TenantDirectory {
    tenants: TenantRepoRef,
    clock: ClockRef,
    /// A std mutex: it is never held across an await.
    cache: Mutex<HashMap<TenantSlug, (Option<Tenant>, Timestamp)>>,
}

impl TenantDirectory {
    /// Builds the directory.
    pub fn new(tenants: TenantRepoRef, clock: ClockRef) -> Self {
        Self { tenants, clock, cache: Mutex::new(HashMap::new()) }
    }

    /// The tenant with this slug, `None` when there is none.
    ///
    /// # Errors
    /// [`StoreError`] when the tenant store cannot be read.
    pub async fn find(&self, slug: &TenantSlug) -> Result<Option<Tenant>, StoreError> {
        let now = self.clock.now();
        {
            let cache = self.cache.lock().expect("tenant cache poisoned");
            if let Some((tenant, fetched_at)) = cache.get(slug)
                && (0..CACHE_TTL.as_millis() as i64).contains(&(now.as_millis() - fetched_at.as_millis()))
            {
                return Ok(tenant.clone());
            }
        }
        let tenant = self.tenants.find_by_slug(slug).await?;
        let mut cache = self.cache.lock().expect("tenant cache poisoned");
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(slug.clone(), (tenant.clone(), now));
        Ok(tenant)
    }
}
