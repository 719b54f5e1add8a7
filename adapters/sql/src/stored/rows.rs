//! Rows of `tenants`, `tokens` and `agents` as read, and their conversion into domain types.
//! The schemas keep the same column names and types on SQLite and MariaDB, and
//! `sqlx::FromRow` is generic over the database, so one definition serves both.

use std::time::Duration;

use microdash_domain::{AgentId, ApiToken, Retention, Tenant, TenantId, TenantSlug, Timestamp, TokenId};
use microdash_usecases::ports::{AgentInfo, StoreError};

use crate::error::corrupt;

/// Every column of `tenants`, as a literal for `concat!`.
macro_rules! tenant_columns {
    () => {
        "id, slug, name, samples_per_minute, retention_raw_s, retention_1m_s, retention_5m_s, created_at"
    };
}
pub(crate) use tenant_columns;

/// A `tenants` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TenantRow {
    pub(crate) id: i64,
    pub(crate) slug: String,
    pub(crate) name: String,
    pub(crate) samples_per_minute: i64,
    pub(crate) retention_raw_s: i64,
    pub(crate) retention_1m_s: i64,
    pub(crate) retention_5m_s: i64,
    pub(crate) created_at: i64,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;

    fn try_from(row: TenantRow) -> Result<Self, StoreError> {
        let seconds = |s: i64| Duration::from_secs(u64::try_from(s).unwrap_or_default());
        Ok(Tenant {
            id: TenantId::new(row.id),
            slug: TenantSlug::new(row.slug).map_err(|e| corrupt("tenant slug", e))?,
            name: row.name,
            samples_per_minute: u64::try_from(row.samples_per_minute).unwrap_or_default(),
            retention: Retention {
                raw: seconds(row.retention_raw_s),
                one_minute: seconds(row.retention_1m_s),
                five_minutes: seconds(row.retention_5m_s),
            },
            created_at: Timestamp::from_millis(row.created_at),
        })
    }
}

/// The columns of [`TokenRow`], as a literal for `concat!`.
macro_rules! token_columns {
    () => {
        "id, tenant_id, name, display_prefix, created_at, last_used_at, revoked_at"
    };
}
pub(crate) use token_columns;

/// A `tokens` row as read (never the hash).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TokenRow {
    id: i64,
    tenant_id: i64,
    name: String,
    display_prefix: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl From<TokenRow> for ApiToken {
    fn from(row: TokenRow) -> Self {
        ApiToken {
            id: TokenId::new(row.id),
            tenant_id: TenantId::new(row.tenant_id),
            name: row.name,
            display_prefix: row.display_prefix,
            created_at: Timestamp::from_millis(row.created_at),
            last_used_at: row.last_used_at.map(Timestamp::from_millis),
            revoked_at: row.revoked_at.map(Timestamp::from_millis),
        }
    }
}

/// A token joined with its tenant, for authentication in one round trip.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TokenWithTenantRow {
    #[sqlx(flatten)]
    token: TokenRow,
    tenant_slug: String,
    tenant_name: String,
    tenant_samples_per_minute: i64,
    tenant_retention_raw_s: i64,
    tenant_retention_1m_s: i64,
    tenant_retention_5m_s: i64,
    tenant_created_at: i64,
}

impl TokenWithTenantRow {
    pub(crate) fn into_parts(self) -> Result<(ApiToken, Tenant), StoreError> {
        let tenant = TenantRow {
            id: self.token.tenant_id,
            slug: self.tenant_slug,
            name: self.tenant_name,
            samples_per_minute: self.tenant_samples_per_minute,
            retention_raw_s: self.tenant_retention_raw_s,
            retention_1m_s: self.tenant_retention_1m_s,
            retention_5m_s: self.tenant_retention_5m_s,
            created_at: self.tenant_created_at,
        };
        Ok((self.token.into(), tenant.try_into()?))
    }
}

/// An `agents` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AgentRow {
    agent_id: String,
    first_seen: i64,
    last_seen: i64,
    last_sample_at: i64,
    samples: i64,
    interval_ms: Option<i64>,
}

/// Every column of [`AgentRow`], as a literal for `concat!`.
macro_rules! agent_columns {
    () => {
        "agent_id, first_seen, last_seen, last_sample_at, samples, interval_ms"
    };
}
pub(crate) use agent_columns;

impl TryFrom<AgentRow> for AgentInfo {
    type Error = StoreError;

    fn try_from(row: AgentRow) -> Result<Self, StoreError> {
        Ok(AgentInfo {
            agent: AgentId::new(row.agent_id).map_err(|e| corrupt("agent id", e))?,
            first_seen: Timestamp::from_millis(row.first_seen),
            last_seen: Timestamp::from_millis(row.last_seen),
            last_sample_at: Timestamp::from_millis(row.last_sample_at),
            samples: u64::try_from(row.samples).unwrap_or_default(),
            interval: row.interval_ms.and_then(|ms| u64::try_from(ms).ok()).map(Duration::from_millis),
        })
    }
}
