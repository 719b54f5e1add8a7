use std::sync::Arc;

use microdash_adapter_memory::{FakeClock, MemoryStore};
use microdash_domain::Timestamp;

use microdash_usecases::{AdminError, AdminService};

fn admin() -> AdminService {
    let store = Arc::new(MemoryStore::default());
    AdminService::new(store.clone(), store, Arc::new(FakeClock::new(Timestamp::from_millis(0))))
}

#[tokio::test]
async fn tokens_are_prefixed_high_entropy_and_listed_by_prefix_only() {
    let admin = admin();
    admin.create_tenant("acme", None).await.unwrap();
    let (token, secret) = admin.create_token("acme", "ci").await.unwrap();
    assert!(secret.expose().starts_with("mdt_"));
    assert_eq!(secret.expose().len(), 44);
    assert_eq!(token.display_prefix, &secret.expose()[..12]);
    let (_, other) = admin.create_token("acme", "ci2").await.unwrap();
    assert_ne!(secret.expose(), other.expose());
}

#[tokio::test]
async fn duplicate_and_unknown_tenants_get_clear_errors() {
    let admin = admin();
    admin.create_tenant("acme", None).await.unwrap();
    assert!(matches!(admin.create_tenant("acme", None).await, Err(AdminError::TenantExists(_))));
    assert!(matches!(admin.create_token("nope", "x").await, Err(AdminError::UnknownTenant(_))));
    assert!(matches!(admin.create_tenant("Bad Slug", None).await, Err(AdminError::InvalidSlug(_))));
    assert!(matches!(admin.set_quota("acme", 0).await, Err(AdminError::InvalidValue(_))));
}

#[tokio::test]
async fn the_demo_tenant_is_created_only_on_an_empty_install() {
    let admin = admin();
    let (tenant, secret) = admin.ensure_demo_tenant().await.unwrap().expect("created");
    assert_eq!(tenant.slug.as_str(), "demo");
    assert!(secret.expose().starts_with("mdt_"));
    assert!(admin.ensure_demo_tenant().await.unwrap().is_none());
}
