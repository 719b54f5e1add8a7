use std::sync::Arc;

use microdash_adapter_memory::{FakeClock, MemoryStore};
use microdash_domain::Timestamp;

use microdash_usecases::auth::AuthError;
use microdash_usecases::ports::Clock;
use microdash_usecases::{AdminService, AuthService};
use std::time::Duration;

async fn setup() -> (Arc<FakeClock>, AuthService, AdminService, String) {
    let clock = Arc::new(FakeClock::new(Timestamp::from_millis(1_795_000_000_000)));
    let store = Arc::new(MemoryStore::default());
    let admin = AdminService::new(store.clone(), store.clone(), clock.clone());
    admin.create_tenant("acme", None).await.unwrap();
    let (_, secret) = admin.create_token("acme", "ci").await.unwrap();
    let auth = AuthService::new(store, clock.clone());
    (clock, auth, admin, secret.expose().to_string())
}

#[tokio::test]
async fn a_valid_token_resolves_to_its_tenant() {
    let (_, auth, _, secret) = setup().await;
    let p = auth.authenticate(&secret).await.unwrap();
    assert_eq!(p.tenant_slug.as_str(), "acme");
}

#[tokio::test]
async fn an_unknown_token_is_refused() {
    let (_, auth, _, _) = setup().await;
    assert!(matches!(auth.authenticate("mdt_nope").await, Err(AuthError::InvalidToken)));
}

#[tokio::test]
async fn a_revoked_token_stops_working_within_one_second() {
    let (clock, auth, admin, secret) = setup().await;
    let p = auth.authenticate(&secret).await.unwrap();
    admin.revoke_token(p.token_id).await.unwrap();
    clock.advance(Duration::from_millis(1000));
    assert!(matches!(auth.authenticate(&secret).await, Err(AuthError::InvalidToken)));
}

#[tokio::test]
async fn last_used_is_recorded_without_a_write_per_request() {
    let (clock, auth, admin, secret) = setup().await;
    auth.authenticate(&secret).await.unwrap();
    let first = admin.list_tokens("acme").await.unwrap()[0].last_used_at;
    assert_eq!(first, Some(clock.now()));
    clock.advance(Duration::from_secs(5));
    auth.authenticate(&secret).await.unwrap();
    assert_eq!(admin.list_tokens("acme").await.unwrap()[0].last_used_at, first, "no write within a minute");
    clock.advance(Duration::from_secs(61));
    auth.authenticate(&secret).await.unwrap();
    assert_eq!(admin.list_tokens("acme").await.unwrap()[0].last_used_at, Some(clock.now()));
}
