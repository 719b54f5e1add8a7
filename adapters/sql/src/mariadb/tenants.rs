//! [`TenantRepo`] on MariaDB.

use std::time::Duration;

use async_trait::async_trait;
use microdash_domain::tenant::{DEFAULT_SAMPLES_PER_MINUTE, NewTenant};
use microdash_domain::{Retention, Tenant, TenantId, TenantSlug, Timestamp};
use microdash_usecases::ports::{StoreError, TenantRepo};

use super::{MariaDbStore, to_i64};
use crate::error::{SqlxResultExt, corrupt};

/// Every column of `tenants`, as a literal for `concat!`.
macro_rules! columns {
    () => {
        "id, slug, name, samples_per_minute, retention_raw_s, retention_1m_s, retention_5m_s, created_at"
    };
}

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

#[async_trait]
impl TenantRepo for MariaDbStore {
    async fn create(&self, new: NewTenant, now: Timestamp) -> Result<Tenant, StoreError> {
        // Defaults come from the domain so that every backend agrees on them.
        let retention = Retention::default();
        let row: TenantRow = sqlx::query_as(concat!(
            "INSERT INTO tenants (slug, name, samples_per_minute, retention_raw_s, retention_1m_s, \
             retention_5m_s, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING ",
            columns!()
        ))
        .bind(new.slug.as_str())
        .bind(&new.name)
        .bind(to_i64(DEFAULT_SAMPLES_PER_MINUTE))
        .bind(to_i64(retention.raw.as_secs()))
        .bind(to_i64(retention.one_minute.as_secs()))
        .bind(to_i64(retention.five_minutes.as_secs()))
        .bind(now.as_millis())
        .fetch_one(&self.pool)
        .await
        .or_store("creating a tenant")?;
        row.try_into()
    }

    async fn find_by_slug(&self, slug: &TenantSlug) -> Result<Option<Tenant>, StoreError> {
        let row: Option<TenantRow> =
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM tenants WHERE slug = ?"))
                .bind(slug.as_str())
                .fetch_optional(&self.pool)
                .await
                .or_store("finding a tenant")?;
        row.map(Tenant::try_from).transpose()
    }

    async fn list(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows: Vec<TenantRow> =
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM tenants ORDER BY slug"))
                .fetch_all(&self.pool)
                .await
                .or_store("listing tenants")?;
        rows.into_iter().map(Tenant::try_from).collect()
    }

    async fn set_quota(&self, id: TenantId, samples_per_minute: u64) -> Result<(), StoreError> {
        // Quotas past i64::MAX are stored as i64::MAX: both mean "unlimited". sqlx asks for
        // CLIENT_FOUND_ROWS, so an unchanged quota still counts its row as affected.
        let done = sqlx::query("UPDATE tenants SET samples_per_minute = ? WHERE id = ?")
            .bind(to_i64(samples_per_minute))
            .bind(id.get())
            .execute(&self.pool)
            .await
            .or_store("setting a tenant's quota")?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("tenant {id}")));
        }
        Ok(())
    }
}
