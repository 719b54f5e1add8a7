use std::sync::Arc;

use async_trait::async_trait;
use microdash_domain::tenant::NewTenant;
use microdash_domain::{Retention, Tenant, TenantId, TenantSlug, Timestamp};

use super::StoreError;

/// Tenants. `list` is for admin use only.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TenantRepo: Send + Sync {
    /// Creates a tenant with the default quota and retention. Its rollups start closed and
    /// folded at the minute of `now` (see [`RollupProgress`](super::RollupProgress)).
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

    /// Sets how long each resolution of a tenant's data is kept (already validated).
    ///
    /// # Errors
    /// - [`StoreError::NotFound`] when there is no such tenant.
    /// - [`StoreError::Unavailable`] when the backend fails.
    async fn set_retention(&self, id: TenantId, retention: Retention) -> Result<(), StoreError>;
}

/// Shared [`TenantRepo`].
pub type TenantRepoRef = Arc<dyn TenantRepo>;
