use std::sync::Arc;

use async_trait::async_trait;
use microdash_domain::tenant::NewTenant;
use microdash_domain::{Tenant, TenantId, TenantSlug, Timestamp};

use super::StoreError;

/// Tenants. `list` is for admin use only.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TenantRepo: Send + Sync {
    /// Creates a tenant with the default quota and retention.
    ///
    /// # Errors
    /// - [`StoreError::Conflict`] when the slug is taken.
    /// - [`StoreError::Unavailable`] when the backend fails.
    async fn create(&self, new: NewTenant, now: Timestamp) -> Result<Tenant, StoreError>;

    /// Finds a tenant by slug.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn find_by_slug(&self, slug: &TenantSlug) -> Result<Option<Tenant>, StoreError>;

    /// Every tenant, ordered by slug (admin use).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn list(&self) -> Result<Vec<Tenant>, StoreError>;

    /// Sets the per-token quota of a tenant.
    ///
    /// # Errors
    /// - [`StoreError::NotFound`] when there is no such tenant.
    /// - [`StoreError::Unavailable`] when the backend fails.
    async fn set_quota(&self, id: TenantId, samples_per_minute: u64) -> Result<(), StoreError>;
}

/// Shared [`TenantRepo`].
pub type TenantRepoRef = Arc<dyn TenantRepo>;
