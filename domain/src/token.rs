//! API tokens. A token is shown to its owner once; only its SHA-256 hash is stored, which is
//! enough for random 256-bit secrets (passwords, which are guessable, will get argon2).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::tenant::TenantId;
use crate::time::Timestamp;

/// Every token starts with this, so a leaked one is easy to recognise (and to grep for).
pub const TOKEN_PREFIX: &str = "mdt_";

/// How many characters of a token are kept in clear to tell tokens apart in listings:
/// the prefix plus 8 characters of the secret, 48 bits, never enough to guess the rest.
pub const DISPLAY_PREFIX_LEN: usize = TOKEN_PREFIX.len() + 8;

/// A token's stored id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenId(i64);

impl TokenId {
    /// Wraps a stored id.
    pub const fn new(id: i64) -> Self {
        Self(id)
    }

    /// The stored id.
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A token as stored: never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Stored id (what `token revoke` takes).
    pub id: TokenId,
    /// Owner.
    pub tenant_id: TenantId,
    /// What the owner called it.
    pub name: String,
    /// The first characters of the secret, e.g. `mdt_3fA9xQ2b`.
    pub display_prefix: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last successful authentication, updated at most about once a minute.
    pub last_used_at: Option<Timestamp>,
    /// When it was revoked; a revoked token authenticates nothing.
    pub revoked_at: Option<Timestamp>,
}

/// The clear-text secret of a new token. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// Wraps a secret (as generated or as presented by a client).
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret, to show once or to hash.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The part kept in clear for listings.
    pub fn display_prefix(&self) -> String {
        self.0.chars().take(DISPLAY_PREFIX_LEN).collect()
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret([redacted])")
    }
}

/// The stored form of a secret: its SHA-256, hex-encoded by the caller that computes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_the_secret() {
        let s = TokenSecret::new("mdt_supersecretvalue");
        assert!(!format!("{s:?}").contains("supersecret"));
        assert_eq!(s.display_prefix(), "mdt_supersec");
    }
}
