//! [`TokenRepo`]. Only the hash of a secret is ever stored or searched for.

use async_trait::async_trait;
use microdash_domain::token::TokenHash;
use microdash_domain::{ApiToken, Tenant, TenantId, Timestamp, TokenId};
use microdash_usecases::ports::{NewToken, StoreError, TokenRepo};
use sqlx::AssertSqlSafe;

use super::{DIALECT, Store};
use crate::error::SqlxResultExt;
use crate::stored::rows::{TokenRow, TokenWithTenantRow, token_columns};

#[async_trait]
impl TokenRepo for Store {
    async fn create(&self, new: NewToken, now: Timestamp) -> Result<ApiToken, StoreError> {
        // INSERT ... SELECT FROM tenants: a missing tenant inserts (and returns) nothing, which
        // tells NotFound apart from a failure without a second query or a race.
        let row: Option<TokenRow> = sqlx::query_as(concat!(
            "INSERT INTO tokens (tenant_id, name, display_prefix, hash, created_at) \
             SELECT id, ?, ?, ?, ? FROM tenants WHERE id = ? RETURNING ",
            token_columns!()
        ))
        .bind(&new.name)
        .bind(&new.display_prefix)
        .bind(&new.hash.0)
        .bind(now.as_millis())
        .bind(new.tenant_id.get())
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
             WHERE k.hash = ? AND k.revoked_at IS NULL",
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
            " FROM tokens WHERE tenant_id = ? ORDER BY created_at, id"
        ))
        .bind(tenant.get())
        .fetch_all(&self.read)
        .await
        .or_store("listing tokens")?;
        Ok(rows.into_iter().map(ApiToken::from).collect())
    }

    async fn revoke(&self, id: TokenId, now: Timestamp) -> Result<ApiToken, StoreError> {
        // Revoking twice keeps the first revocation time. MariaDB has no UPDATE ... RETURNING,
        // so the row is read back; tokens are never deleted, so it cannot vanish in between.
        sqlx::query("UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?")
            .bind(now.as_millis())
            .bind(id.get())
            .execute(&self.write)
            .await
            .or_store("revoking a token")?;
        let row: Option<TokenRow> =
            sqlx::query_as(concat!("SELECT ", token_columns!(), " FROM tokens WHERE id = ?"))
                .bind(id.get())
                .fetch_optional(&self.read)
                .await
                .or_store("reading a revoked token")?;
        row.map(ApiToken::from).ok_or_else(|| StoreError::NotFound(format!("token {id}")))
    }

    async fn touch(&self, id: TokenId, at: Timestamp) -> Result<(), StoreError> {
        // Concurrent requests may touch out of order; the newest time wins. An unknown id is
        // not an error: the port promises nothing for it.
        let sql = format!(
            "UPDATE tokens SET last_used_at = {}(COALESCE(last_used_at, ?), ?) WHERE id = ?",
            DIALECT.greatest()
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(at.as_millis())
            .bind(at.as_millis())
            .bind(id.get())
            .execute(&self.write)
            .await
            .or_store("recording token use")?;
        Ok(())
    }
}
