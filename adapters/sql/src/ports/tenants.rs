//! [`TenantRepo`].

use async_trait::async_trait;
use microdash_domain::rollup::{MINUTE_MS, bucket_start};
use microdash_domain::tenant::{DEFAULT_SAMPLES_PER_MINUTE, NewTenant};
use microdash_domain::{Retention, Tenant, TenantId, TenantSlug, Timestamp};
use microdash_usecases::ports::{StoreError, TenantRepo};

use super::{DIALECT, Store};
use crate::error::SqlxResultExt;
use crate::stored::rows::{TenantRow, tenant_columns};
use crate::stored::to_i64;

#[async_trait]
impl TenantRepo for Store {
    async fn create(&self, new: NewTenant, now: Timestamp) -> Result<Tenant, StoreError> {
        // Defaults come from the domain so that every backend agrees on them.
        let retention = Retention::default();
        let mut tx =
            self.write.begin_with(DIALECT.begin_write()).await.or_store("starting to create a tenant")?;
        let row: TenantRow = sqlx::query_as(concat!(
            "INSERT INTO tenants (slug, name, samples_per_minute, retention_raw_s, retention_1m_s, \
             retention_5m_s, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING ",
            tenant_columns!()
        ))
        .bind(new.slug.as_str())
        .bind(&new.name)
        .bind(to_i64(DEFAULT_SAMPLES_PER_MINUTE))
        .bind(to_i64(retention.raw.as_secs()))
        .bind(to_i64(retention.one_minute.as_secs()))
        .bind(to_i64(retention.five_minutes.as_secs()))
        .bind(now.as_millis())
        .fetch_one(&mut *tx)
        .await
        .or_store("creating a tenant")?;
        // Rollups start at the creation minute; older samples it sends are late samples.
        let minute = bucket_start(now, MINUTE_MS).as_millis();
        sqlx::query("INSERT INTO rollup_progress (tenant_id, folded_until, closed_until) VALUES (?, ?, ?)")
            .bind(row.id)
            .bind(minute)
            .bind(minute)
            .execute(&mut *tx)
            .await
            .or_store("starting a tenant's rollups")?;
        tx.commit().await.or_store("committing a tenant")?;
        row.try_into()
    }

    async fn find_by_slug(&self, slug: &TenantSlug) -> Result<Option<Tenant>, StoreError> {
        let row: Option<TenantRow> =
            sqlx::query_as(concat!("SELECT ", tenant_columns!(), " FROM tenants WHERE slug = ?"))
                .bind(slug.as_str())
                .fetch_optional(&self.read)
                .await
                .or_store("finding a tenant")?;
        row.map(Tenant::try_from).transpose()
    }

    async fn list(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows: Vec<TenantRow> =
            sqlx::query_as(concat!("SELECT ", tenant_columns!(), " FROM tenants ORDER BY slug"))
                .fetch_all(&self.read)
                .await
                .or_store("listing tenants")?;
        rows.into_iter().map(Tenant::try_from).collect()
    }

    async fn set_quota(&self, id: TenantId, samples_per_minute: u64) -> Result<(), StoreError> {
        // Quotas past i64::MAX are stored as i64::MAX: both mean "unlimited". An unchanged
        // quota still counts its row as affected: SQLite counts every row an UPDATE matched,
        // and sqlx asks MariaDB for CLIENT_FOUND_ROWS.
        let done = sqlx::query("UPDATE tenants SET samples_per_minute = ? WHERE id = ?")
            .bind(to_i64(samples_per_minute))
            .bind(id.get())
            .execute(&self.write)
            .await
            .or_store("setting a tenant's quota")?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("tenant {id}")));
        }
        Ok(())
    }

    async fn set_retention(&self, id: TenantId, retention: Retention) -> Result<(), StoreError> {
        // An unchanged retention still counts its row (see `set_quota`).
        let done = sqlx::query(
            "UPDATE tenants SET retention_raw_s = ?, retention_1m_s = ?, retention_5m_s = ? WHERE id = ?",
        )
        .bind(to_i64(retention.raw.as_secs()))
        .bind(to_i64(retention.one_minute.as_secs()))
        .bind(to_i64(retention.five_minutes.as_secs()))
        .bind(id.get())
        .execute(&self.write)
        .await
        .or_store("setting a tenant's retention")?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("tenant {id}")));
        }
        Ok(())
    }
}
