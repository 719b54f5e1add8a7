use std::sync::Arc;

use async_trait::async_trait;
use microdash_domain::token::TokenHash;
use microdash_domain::{ApiToken, Tenant, TenantId, Timestamp, TokenId};

use super::StoreError;

/// A token to store: its hash, never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// Owner.
    pub tenant_id: TenantId,
    /// Name given by the owner.
    pub name: String,
    /// First characters of the secret, for listings.
    pub display_prefix: String,
    /// SHA-256 of the secret.
    pub hash: TokenHash,
}

/// API tokens.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TokenRepo: Send + Sync {
    /// Stores a new token.
    ///
    /// # Errors
    /// - [`StoreError::NotFound`] when the tenant does not exist.
    /// - [`StoreError::Unavailable`] when the backend fails.
    async fn create(&self, new: NewToken, now: Timestamp) -> Result<ApiToken, StoreError>;

    /// The token with this hash and its tenant, unless the token is revoked.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn find_active_by_hash(&self, hash: &TokenHash) -> Result<Option<(ApiToken, Tenant)>, StoreError>;

    /// The tenant's tokens, revoked ones included, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn list(&self, tenant: TenantId) -> Result<Vec<ApiToken>, StoreError>;

    /// Revokes a token (admin use). Returns the token as it is now.
    ///
    /// # Errors
    /// - [`StoreError::NotFound`] when there is no such token.
    /// - [`StoreError::Unavailable`] when the backend fails.
    async fn revoke(&self, id: TokenId, now: Timestamp) -> Result<ApiToken, StoreError>;

    /// Records that a token was used.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn touch(&self, id: TokenId, at: Timestamp) -> Result<(), StoreError>;
}

/// Shared [`TokenRepo`].
pub type TokenRepoRef = Arc<dyn TokenRepo>;
