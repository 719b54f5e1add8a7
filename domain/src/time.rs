//! Time as the store keeps it: whole milliseconds since the Unix epoch, UTC.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (UTC). Millisecond precision is what every client we
/// accept (HTTP JSON, MQTT, the agent) can express, and an `i64` sorts and indexes cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// Wraps a count of milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The timestamp `ms` milliseconds later (earlier when negative), saturating.
    pub const fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// Converts to a chrono date-time; `None` only for values chrono cannot represent.
    pub fn to_datetime(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_millis(self.0)
    }

    /// Parses an RFC 3339 date-time such as `2026-11-22T10:00:00Z` or `...+01:00`.
    ///
    /// # Errors
    /// A message fit for a user when the text is not RFC 3339.
    pub fn parse_rfc3339(text: &str) -> Result<Self, String> {
        DateTime::parse_from_rfc3339(text)
            .map(|dt| Self(dt.timestamp_millis()))
            .map_err(|e| format!("not an RFC 3339 date-time ({e})"))
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(dt: DateTime<Utc>) -> Self {
        Self(dt.timestamp_millis())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_datetime() {
            Some(dt) => f.write_str(&dt.to_rfc3339_opts(SecondsFormat::Millis, true)),
            None => write!(f, "{}ms", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_offset_is_converted_to_utc_millis() {
        let ts = Timestamp::parse_rfc3339("2026-11-22T11:00:00.250+01:00").unwrap();
        assert_eq!(ts.to_string(), "2026-11-22T10:00:00.250Z");
    }

    #[test]
    fn garbage_is_not_a_timestamp() {
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    }
}
