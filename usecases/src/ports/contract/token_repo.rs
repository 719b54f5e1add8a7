//! Contract of [`TokenRepo`]: tokens found by hash until revoked, listed per tenant.

use super::*;

/// Tokens: found by hash with their tenant until revoked; listed per tenant.
pub async fn token_repo_finds_active_tokens_by_hash_and_honours_revocation(store: &dyn Storage) {
    let (tenants, tokens): (&dyn TenantRepo, &dyn TokenRepo) = (store, store);
    let a = new_tenant(tenants, "tka").await;
    let b = new_tenant(tenants, "tkb").await;
    let hash =
        TokenHash(format!("{:064x}", a.id.get()).chars().rev().collect::<String>() + &a.slug.to_string());
    let new = NewToken {
        tenant_id: a.id,
        name: "ci".into(),
        display_prefix: "mdt_abcdefgh".into(),
        hash: hash.clone(),
    };
    let tok = tokens.create(new, Timestamp::from_millis(T0)).await.unwrap();
    assert_eq!(tok.display_prefix, "mdt_abcdefgh");
    assert_eq!(tok.last_used_at, None);
    let (found, tenant) = tokens.find_active_by_hash(&hash).await.unwrap().expect("active token found");
    assert_eq!((found.id, tenant.id), (tok.id, a.id));
    assert!(tokens.find_active_by_hash(&TokenHash("0".repeat(64))).await.unwrap().is_none());

    tokens.touch(tok.id, Timestamp::from_millis(T0 + 5)).await.unwrap();
    let listed = tokens.list(a.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_used_at, Some(Timestamp::from_millis(T0 + 5)));
    assert!(tokens.list(b.id).await.unwrap().is_empty(), "tokens are listed per tenant only");

    let revoked = tokens.revoke(tok.id, Timestamp::from_millis(T0 + 10)).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(Timestamp::from_millis(T0 + 10)));
    assert!(
        tokens.find_active_by_hash(&hash).await.unwrap().is_none(),
        "revoked tokens authenticate nothing"
    );
    assert_eq!(tokens.list(a.id).await.unwrap()[0].revoked_at, Some(Timestamp::from_millis(T0 + 10)));
    let missing = tokens.revoke(microdash_domain::TokenId::new(i64::MAX), Timestamp::from_millis(T0)).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
}
