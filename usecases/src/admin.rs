//! Administration of tenants and tokens (the CLI's use cases). Not reachable with an API
//! token: whoever runs these has the database.

use microdash_domain::tenant::{InvalidSlug, NewTenant};
use microdash_domain::token::{TOKEN_PREFIX, TokenSecret};
use microdash_domain::{ApiToken, Retention, Tenant, TenantSlug, TokenId};
use rand::Rng;
use rand::distr::Alphanumeric;

use crate::auth::hash_token;
use crate::ports::{ClockRef, NewToken, StoreError, TenantRepoRef, TokenRepoRef};

/// Random characters in a token after its prefix: 40 alphanumerics, about 238 bits.
const SECRET_LEN: usize = 40;

/// The tenant created on the first start of an empty embedded install.
pub const DEMO_TENANT: &str = "demo";

/// Errors of administration.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The slug breaks the naming rules.
    #[error(transparent)]
    InvalidSlug(#[from] InvalidSlug),
    /// No tenant with this slug.
    #[error("no tenant '{0}'; `microdash tenant list` shows the existing ones")]
    UnknownTenant(String),
    /// A tenant with this slug exists.
    #[error("a tenant '{0}' already exists")]
    TenantExists(String),
    /// No token with this id.
    #[error("no token with id {0}; `microdash token list --tenant <slug>` shows the ids")]
    UnknownToken(TokenId),
    /// A value out of range.
    #[error("{0}")]
    InvalidValue(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

/// Tenants and tokens.
pub struct AdminService {
    tenants: TenantRepoRef,
    tokens: TokenRepoRef,
    clock: ClockRef,
}

impl AdminService {
    /// Builds the service.
    pub fn new(tenants: TenantRepoRef, tokens: TokenRepoRef, clock: ClockRef) -> Self {
        Self { tenants, tokens, clock }
    }

    /// Creates a tenant.
    ///
    /// # Errors
    /// [`AdminError::InvalidSlug`], [`AdminError::TenantExists`], [`AdminError::Store`].
    pub async fn create_tenant(&self, slug: &str, name: Option<String>) -> Result<Tenant, AdminError> {
        let slug = TenantSlug::new(slug)?;
        let name = name.unwrap_or_else(|| slug.to_string());
        match self.tenants.create(NewTenant { slug: slug.clone(), name }, self.clock.now()).await {
            Err(StoreError::Conflict(_)) => Err(AdminError::TenantExists(slug.to_string())),
            other => other.map_err(AdminError::Store),
        }
    }

    /// Every tenant.
    ///
    /// # Errors
    /// [`AdminError::Store`].
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, AdminError> {
        self.tenants.list().await.map_err(AdminError::Store)
    }

    /// Sets a tenant's per-token quota.
    ///
    /// # Errors
    /// [`AdminError::InvalidValue`] for 0, [`AdminError::UnknownTenant`], [`AdminError::Store`].
    pub async fn set_quota(&self, slug: &str, samples_per_minute: u64) -> Result<Tenant, AdminError> {
        if samples_per_minute == 0 {
            return Err(AdminError::InvalidValue("--samples-per-minute must be at least 1".into()));
        }
        let tenant = self.tenant(slug).await?;
        self.tenants.set_quota(tenant.id, samples_per_minute).await.map_err(AdminError::Store)?;
        Ok(Tenant { samples_per_minute, ..tenant })
    }

    /// Sets how long each resolution of a tenant's data is kept. The retention job applies it
    /// on its next run.
    ///
    /// # Errors
    /// [`AdminError::InvalidValue`] when the values break the rules of
    /// [`Retention::validate`], [`AdminError::UnknownTenant`], [`AdminError::Store`].
    pub async fn set_retention(&self, slug: &str, retention: Retention) -> Result<Tenant, AdminError> {
        retention.validate().map_err(|e| AdminError::InvalidValue(format!("--{e}")))?;
        let tenant = self.tenant(slug).await?;
        self.tenants.set_retention(tenant.id, retention).await.map_err(AdminError::Store)?;
        Ok(Tenant { retention, ..tenant })
    }

    /// Creates a token; the secret is returned here and never again.
    ///
    /// # Errors
    /// [`AdminError::UnknownTenant`], [`AdminError::Store`].
    pub async fn create_token(&self, slug: &str, name: &str) -> Result<(ApiToken, TokenSecret), AdminError> {
        let tenant = self.tenant(slug).await?;
        let random: String =
            rand::rng().sample_iter(&Alphanumeric).take(SECRET_LEN).map(char::from).collect();
        let secret = TokenSecret::new(format!("{TOKEN_PREFIX}{random}"));
        let new = NewToken {
            tenant_id: tenant.id,
            name: name.to_string(),
            display_prefix: secret.display_prefix(),
            hash: hash_token(secret.expose()),
        };
        let token = self.tokens.create(new, self.clock.now()).await.map_err(AdminError::Store)?;
        Ok((token, secret))
    }

    /// A tenant's tokens.
    ///
    /// # Errors
    /// [`AdminError::UnknownTenant`], [`AdminError::Store`].
    pub async fn list_tokens(&self, slug: &str) -> Result<Vec<ApiToken>, AdminError> {
        let tenant = self.tenant(slug).await?;
        self.tokens.list(tenant.id).await.map_err(AdminError::Store)
    }

    /// Revokes a token; running servers stop accepting it within 1 s.
    ///
    /// # Errors
    /// [`AdminError::UnknownToken`], [`AdminError::Store`].
    pub async fn revoke_token(&self, id: TokenId) -> Result<ApiToken, AdminError> {
        match self.tokens.revoke(id, self.clock.now()).await {
            Err(StoreError::NotFound(_)) => Err(AdminError::UnknownToken(id)),
            other => other.map_err(AdminError::Store),
        }
    }

    /// On an install without any tenant, creates the `demo` tenant and a token for it, so a
    /// newcomer can post a metric right away. Returns `None` when tenants exist.
    ///
    /// # Errors
    /// [`AdminError::Store`].
    pub async fn ensure_demo_tenant(&self) -> Result<Option<(Tenant, TokenSecret)>, AdminError> {
        if !self.list_tenants().await?.is_empty() {
            return Ok(None);
        }
        let tenant = self.create_tenant(DEMO_TENANT, Some("Demo".into())).await?;
        let (_, secret) = self.create_token(DEMO_TENANT, "demo (created on first start)").await?;
        Ok(Some((tenant, secret)))
    }

    async fn tenant(&self, slug: &str) -> Result<Tenant, AdminError> {
        let parsed = TenantSlug::new(slug).map_err(|_| AdminError::UnknownTenant(slug.to_string()))?;
        self.tenants
            .find_by_slug(&parsed)
            .await
            .map_err(AdminError::Store)?
            .ok_or_else(|| AdminError::UnknownTenant(slug.to_string()))
    }
}
