//! [`TokenRepo`] on SQLite. Only the hash of a secret is ever stored or searched for.

use async_trait::async_trait;
use microdash_domain::token::TokenHash;
use microdash_domain::{ApiToken, Tenant, TenantId, Timestamp, TokenId};
use microdash_usecases::ports::{NewToken, StoreError, TokenRepo};

use super::SqliteStore;
use crate::error::SqlxResultExt;
use crate::stored::rows::{TokenRow, TokenWithTenantRow, token_columns};

#[async_trait]
impl TokenRepo for SqliteStore {
    async fn create(&self, new: NewToken, now: Timestamp) -> Result<ApiToken, StoreError> {
        // INSERT ... SELECT ... WHERE EXISTS: a missing tenant inserts nothing, which tells
        // NotFound apart from a failure without a second query or a race.
        let row: Option<TokenRow> = sqlx::query_as(concat!(
            "INSERT INTO tokens (tenant_id, name, display_prefix, hash, created_at) \
             SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = ?1) RETURNING ",
            token_columns!()
        ))
        .bind(new.tenant_id.get())
        .bind(&new.name)
        .bind(&new.display_prefix)
        .bind(&new.hash.0)
        .bind(now.as_millis())
        .fetch_optional(&self.write)
        .await
        .or_store("creating a token")?;
        row.map(ApiToken::from).ok_or_else(|| StoreError::NotFound(format!("tenant {}", new.tenant_id)))
    }

    async fn find_active_by_hash(&self, hash: &TokenHash) -> Result<Option<(ApiToken, Tenant)>, StoreError> {
        let row: Option<TokenWithTenantRow> = sqlx::query_as(
            "SELECT k.id, k.tenant_id, k.name, k.display_prefix, k.created_at, k.last_used_at, k.revoked_at, \
             t.slug AS tenant_slug, t.name AS tenant_name, t.samples_per_minute AS tenant_samples_per_minute, \
             t.retention_raw_s AS tenant_retention_raw_s, t.retention_1m_s AS tenant_retention_1m_s, \
             t.retention_5m_s AS tenant_retention_5m_s, t.created_at AS tenant_created_at \
             FROM tokens k JOIN tenants t ON t.id = k.tenant_id \
             WHERE k.hash = ?1 AND k.revoked_at IS NULL",
        )
        .bind(&hash.0)
        .fetch_optional(&self.read)
        .await
        .or_store("finding a token")?;
        row.map(TokenWithTenantRow::into_parts).transpose()
    }

    async fn list(&self, tenant: TenantId) -> Result<Vec<ApiToken>, StoreError> {
        let rows: Vec<TokenRow> = sqlx::query_as(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens WHERE tenant_id = ?1 ORDER BY created_at, id"
        ))
        .bind(tenant.get())
        .fetch_all(&self.read)
        .await
        .or_store("listing tokens")?;
        Ok(rows.into_iter().map(ApiToken::from).collect())
    }

    async fn revoke(&self, id: TokenId, now: Timestamp) -> Result<ApiToken, StoreError> {
        // Revoking twice keeps the first revocation time.
        let row: Option<TokenRow> = sqlx::query_as(concat!(
            "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1 RETURNING ",
            token_columns!()
        ))
        .bind(id.get())
        .bind(now.as_millis())
        .fetch_optional(&self.write)
        .await
        .or_store("revoking a token")?;
        row.map(ApiToken::from).ok_or_else(|| StoreError::NotFound(format!("token {id}")))
    }

    async fn touch(&self, id: TokenId, at: Timestamp) -> Result<(), StoreError> {
        // Concurrent requests may touch out of order; the newest time wins. An unknown id is
        // not an error: the port promises nothing for it.
        sqlx::query("UPDATE tokens SET last_used_at = MAX(COALESCE(last_used_at, ?2), ?2) WHERE id = ?1")
            .bind(id.get())
            .bind(at.as_millis())
            .execute(&self.write)
            .await
            .or_store("recording token use")?;
        Ok(())
    }
}
