//! Authentication: an API token in, the tenant it belongs to out.
//!
//! Lookups are cached for less than a second, so a busy client costs one store read per
//! second instead of one per request, while a revoked token stops working within 1 s.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use microdash_domain::token::TokenHash;
use microdash_domain::{Retention, TenantId, TenantSlug, Timestamp, TokenId};
use sha2::{Digest, Sha256};

use crate::error_chain::ErrorChain;
use crate::ports::{ClockRef, StoreError, TokenRepoRef};

/// How long a successful lookup is trusted. Below a second, so revocation takes effect
/// within 1 s as documented.
const CACHE_TTL: Duration = Duration::from_millis(900);

/// How often `last_used_at` is written per token: listings need minute precision, not a write
/// per request.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Cache entries kept at most; beyond it the cache starts over, which bounds memory.
const CACHE_CAPACITY: usize = 10_000;

/// Who is calling: the tenant and the token, with what ingest needs to know about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant; the only tenant this caller can read or write.
    pub tenant: TenantId,
    /// The tenant's slug.
    pub tenant_slug: TenantSlug,
    /// The token used.
    pub token_id: TokenId,
    /// The tenant's per-token quota.
    pub samples_per_minute: u64,
    /// The tenant's retention.
    pub retention: Retention,
}

/// Why authentication failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown or revoked token.
    #[error("unknown or revoked API token")]
    InvalidToken,
    /// The token store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Cached {
    principal: Principal,
    fetched_at: Timestamp,
    touched_at: Option<Timestamp>,
}

/// Resolves API tokens to principals.
pub struct AuthService {
    tokens: TokenRepoRef,
    clock: ClockRef,
    /// Keyed by token hash. A std mutex: it is never held across an await.
    cache: Mutex<HashMap<TokenHash, Cached>>,
}

/// The stored form of a token secret: lowercase hex SHA-256.
pub fn hash_token(secret: &str) -> TokenHash {
    let digest = Sha256::digest(secret.as_bytes());
    TokenHash(microdash_domain::hex::to_hex(&digest))
}

impl AuthService {
    /// Builds the service.
    pub fn new(tokens: TokenRepoRef, clock: ClockRef) -> Self {
        Self { tokens, clock, cache: Mutex::new(HashMap::new()) }
    }

    /// Resolves a token secret.
    ///
    /// # Errors
    /// - [`AuthError::InvalidToken`] for unknown and revoked tokens.
    /// - [`AuthError::Store`] when the token store cannot be read.
    #[tracing::instrument(name = "auth.authenticate", skip_all)]
    pub async fn authenticate(&self, secret: &str) -> Result<Principal, AuthError> {
        let hash = hash_token(secret);
        let now = self.clock.now();
        if let Some(p) = self.cached(&hash, now) {
            return Ok(p);
        }
        let Some((token, tenant)) = self.tokens.find_active_by_hash(&hash).await? else {
            self.cache.lock().expect("auth cache poisoned").remove(&hash);
            return Err(AuthError::InvalidToken);
        };
        let principal = Principal {
            tenant: tenant.id,
            tenant_slug: tenant.slug,
            token_id: token.id,
            samples_per_minute: tenant.samples_per_minute,
            retention: tenant.retention,
        };
        let previous_touch = {
            let cache = self.cache.lock().expect("auth cache poisoned");
            cache.get(&hash).and_then(|c| c.touched_at).or(token.last_used_at)
        };
        let due =
            previous_touch.is_none_or(|t| now.as_millis() - t.as_millis() >= TOUCH_EVERY.as_millis() as i64);
        let touched_at = if due {
            match self.tokens.touch(token.id, now).await {
                Ok(()) => Some(now),
                Err(error) => {
                    tracing::warn!(error = %ErrorChain(&error), token_id = %token.id, "Could not record token use.");
                    previous_touch
                }
            }
        } else {
            previous_touch
        };
        let mut cache = self.cache.lock().expect("auth cache poisoned");
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(hash, Cached { principal: principal.clone(), fetched_at: now, touched_at });
        Ok(principal)
    }

    fn cached(&self, hash: &TokenHash, now: Timestamp) -> Option<Principal> {
        let cache = self.cache.lock().expect("auth cache poisoned");
        let c = cache.get(hash)?;
        let age = now.as_millis() - c.fetched_at.as_millis();
        (0..CACHE_TTL.as_millis() as i64).contains(&age).then(|| c.principal.clone())
    }
}
