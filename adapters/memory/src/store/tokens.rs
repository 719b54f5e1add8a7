use async_trait::async_trait;
use microdash_domain::token::TokenHash;
use microdash_domain::{ApiToken, Tenant, TenantId, Timestamp, TokenId};
use microdash_usecases::ports::{NewToken, StoreError, TokenRepo};

use super::MemoryStore;

#[async_trait]
impl TokenRepo for MemoryStore {
    async fn create(&self, new: NewToken, now: Timestamp) -> Result<ApiToken, StoreError> {
        let mut t = self.write();
        if !t.tenants.contains_key(&new.tenant_id) {
            return Err(StoreError::NotFound(format!("tenant {}", new.tenant_id)));
        }
        if t.tokens.values().any(|(_, h)| *h == new.hash.0) {
            return Err(StoreError::Conflict("token hash exists".into()));
        }
        let token = ApiToken {
            id: TokenId::new(t.next_id()),
            tenant_id: new.tenant_id,
            name: new.name,
            display_prefix: new.display_prefix,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        t.tokens.insert(token.id.get(), (token.clone(), new.hash.0));
        Ok(token)
    }

    async fn find_active_by_hash(&self, hash: &TokenHash) -> Result<Option<(ApiToken, Tenant)>, StoreError> {
        let t = self.read();
        let found = t.tokens.values().find(|(tok, h)| *h == hash.0 && tok.revoked_at.is_none());
        Ok(found.and_then(|(tok, _)| t.tenants.get(&tok.tenant_id).map(|ten| (tok.clone(), ten.clone()))))
    }

    async fn list(&self, tenant: TenantId) -> Result<Vec<ApiToken>, StoreError> {
        Ok(self
            .read()
            .tokens
            .values()
            .filter(|(t, _)| t.tenant_id == tenant)
            .map(|(t, _)| t.clone())
            .collect())
    }

    async fn revoke(&self, id: TokenId, now: Timestamp) -> Result<ApiToken, StoreError> {
        let mut t = self.write();
        let (tok, _) =
            t.tokens.get_mut(&id.get()).ok_or_else(|| StoreError::NotFound(format!("token {id}")))?;
        tok.revoked_at.get_or_insert(now);
        Ok(tok.clone())
    }

    async fn touch(&self, id: TokenId, at: Timestamp) -> Result<(), StoreError> {
        if let Some((tok, _)) = self.write().tokens.get_mut(&id.get()) {
            tok.last_used_at = Some(at);
        }
        Ok(())
    }
}
