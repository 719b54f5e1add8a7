//! Contract of [`TenantRepo`]: tenants, their unique slugs, quotas and retention.

use super::*;

/// Tenants: create, find, list, unique slugs, quotas.
pub async fn tenant_repo_creates_finds_and_refuses_duplicate_slugs(store: &dyn Storage) {
    let tenants: &dyn TenantRepo = store;
    let t = new_tenant(tenants, "tr").await;
    assert_eq!(t.samples_per_minute, microdash_domain::tenant::DEFAULT_SAMPLES_PER_MINUTE);
    assert_eq!(t.retention, microdash_domain::Retention::default());
    let found = tenants.find_by_slug(&t.slug).await.unwrap().expect("tenant found by slug");
    assert_eq!(found, t);
    assert!(tenants.find_by_slug(&unique_slug("nope")).await.unwrap().is_none());
    let dup = tenants
        .create(NewTenant { slug: t.slug.clone(), name: "x".into() }, Timestamp::from_millis(T0))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "duplicate slug must conflict: {dup:?}");
    assert!(tenants.list().await.unwrap().iter().any(|x| x.id == t.id));
    tenants.set_quota(t.id, 42).await.unwrap();
    assert_eq!(tenants.find_by_slug(&t.slug).await.unwrap().unwrap().samples_per_minute, 42);
    let missing = tenants.set_quota(microdash_domain::TenantId::new(i64::MAX), 1).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
}

/// Retention is stored per tenant.
pub async fn tenant_repo_sets_retention(store: &dyn Storage) {
    let t = new_tenant(store, "trr").await;
    let other = new_tenant(store, "trs").await;
    let r = Retention {
        raw: Duration::from_secs(7_200),
        one_minute: Duration::from_secs(86_400),
        five_minutes: Duration::from_secs(90 * 86_400),
    };
    store.set_retention(t.id, r).await.unwrap();
    assert_eq!(store.find_by_slug(&t.slug).await.unwrap().unwrap().retention, r);
    let untouched = store.find_by_slug(&other.slug).await.unwrap().unwrap().retention;
    assert_eq!(untouched, Retention::default(), "only that tenant's retention changes");
    let missing = store.set_retention(TenantId::new(i64::MAX), r).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
}
