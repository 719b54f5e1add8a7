//! Tenants: the unit of isolation. Every sample, token and agent belongs to exactly one.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A tenant's numeric id. Storage ports take it on every call that touches tenant data, and
/// the use cases only ever get one from authentication or from an admin command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(i64);

impl TenantId {
    /// Wraps a stored id.
    pub const fn new(id: i64) -> Self {
        Self(id)
    }

    /// The stored id.
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A tenant's short name, used in URLs, MQTT topics and the CLI: 1 to 63 of `[a-z0-9-]`,
/// starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantSlug(String);

/// Why a slug was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tenant slug '{slug}': {reason}")]
pub struct InvalidSlug {
    /// The refused text.
    pub slug: String,
    /// Which rule it breaks.
    pub reason: &'static str,
}

impl TenantSlug {
    /// Validates a slug.
    ///
    /// # Errors
    /// [`InvalidSlug`] saying which rule the text breaks.
    pub fn new(slug: impl Into<String>) -> Result<Self, InvalidSlug> {
        let slug = slug.into();
        let reason = if slug.is_empty() || slug.len() > 63 {
            Some("must be 1 to 63 characters")
        } else if slug.starts_with('-') {
            Some("must start with a lowercase letter or a digit")
        } else if !slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            Some("may contain only lowercase letters, digits and '-'")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(InvalidSlug { slug, reason }),
            None => Ok(Self(slug)),
        }
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantSlug {
    type Error = InvalidSlug;
    fn try_from(s: String) -> Result<Self, InvalidSlug> {
        Self::new(s)
    }
}

impl From<TenantSlug> for String {
    fn from(s: TenantSlug) -> String {
        s.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How long each resolution of a tenant's data is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Raw samples; default 24 h.
    pub raw: Duration,
    /// 1-minute rollups; default 7 days.
    pub one_minute: Duration,
    /// 5-minute rollups; default 30 days.
    pub five_minutes: Duration,
}

impl Retention {
    /// The longest of the three: samples older than this can never be shown, so ingest
    /// refuses them.
    pub fn longest(&self) -> Duration {
        self.raw.max(self.one_minute).max(self.five_minutes)
    }
}

impl Default for Retention {
    fn default() -> Self {
        const HOUR: u64 = 3600;
        Self {
            raw: Duration::from_secs(24 * HOUR),
            one_minute: Duration::from_secs(7 * 24 * HOUR),
            five_minutes: Duration::from_secs(30 * 24 * HOUR),
        }
    }
}

/// Default per-token quota, in samples per minute: 10,000 samples/s sustained, far above what
/// a small fleet sends, low enough that one runaway client cannot starve the others.
pub const DEFAULT_SAMPLES_PER_MINUTE: u64 = 600_000;

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Stored id.
    pub id: TenantId,
    /// Short unique name.
    pub slug: TenantSlug,
    /// Display name.
    pub name: String,
    /// Per-token ingest quota, samples per minute.
    pub samples_per_minute: u64,
    /// Retention per resolution.
    pub retention: Retention,
    /// Creation time.
    pub created_at: crate::Timestamp,
}

/// What is needed to create a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTenant {
    /// Short unique name.
    pub slug: TenantSlug,
    /// Display name (defaults to the slug).
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_dns_like_names() {
        assert!(TenantSlug::new("acme-1").is_ok());
        assert!(TenantSlug::new("demo").is_ok());
        for bad in ["", "-acme", "Acme", "ac me", "a_b", &"a".repeat(64)] {
            assert!(TenantSlug::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_retention_is_raw_1d_1m_7d_5m_30d_and_longest_is_30d() {
        let r = Retention::default();
        assert_eq!(r.raw.as_secs(), 86_400);
        assert_eq!(r.longest().as_secs(), 30 * 86_400);
    }
}
