use async_trait::async_trait;
use microdash_domain::rollup::{MINUTE_MS, bucket_start};
use microdash_domain::tenant::{DEFAULT_SAMPLES_PER_MINUTE, NewTenant};
use microdash_domain::{Retention, Tenant, TenantId, TenantSlug, Timestamp};
use microdash_usecases::ports::{StoreError, TenantRepo};

use super::{MemoryStore, Progress};

#[async_trait]
impl TenantRepo for MemoryStore {
    async fn create(&self, new: NewTenant, now: Timestamp) -> Result<Tenant, StoreError> {
        let mut t = self.write();
        if t.tenants.values().any(|x| x.slug == new.slug) {
            return Err(StoreError::Conflict(format!("tenant slug '{}' exists", new.slug)));
        }
        let tenant = Tenant {
            id: TenantId::new(t.next_id()),
            slug: new.slug,
            name: new.name,
            samples_per_minute: DEFAULT_SAMPLES_PER_MINUTE,
            retention: Retention::default(),
            created_at: now,
        };
        t.tenants.insert(tenant.id, tenant.clone());
        let minute = bucket_start(now, MINUTE_MS).as_millis();
        t.progress.insert(tenant.id, Progress { folded: minute, closing: minute });
        Ok(tenant)
    }

    async fn find_by_slug(&self, slug: &TenantSlug) -> Result<Option<Tenant>, StoreError> {
        Ok(self.read().tenants.values().find(|t| &t.slug == slug).cloned())
    }

    async fn list(&self) -> Result<Vec<Tenant>, StoreError> {
        let mut all: Vec<Tenant> = self.read().tenants.values().cloned().collect();
        all.sort_by(|a, b| a.slug.cmp(&b.slug));
        Ok(all)
    }

    async fn set_quota(&self, id: TenantId, samples_per_minute: u64) -> Result<(), StoreError> {
        let mut t = self.write();
        let tenant = t.tenants.get_mut(&id).ok_or_else(|| StoreError::NotFound(format!("tenant {id}")))?;
        tenant.samples_per_minute = samples_per_minute;
        Ok(())
    }

    async fn set_retention(&self, id: TenantId, retention: Retention) -> Result<(), StoreError> {
        let mut t = self.write();
        let tenant = t.tenants.get_mut(&id).ok_or_else(|| StoreError::NotFound(format!("tenant {id}")))?;
        tenant.retention = retention;
        Ok(())
    }
}
