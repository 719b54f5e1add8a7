//! A sample and the names that identify its series.
//!
//! A series is (tenant, metric name, agent id, tags). A sample is one value of a series at one
//! millisecond; a second sample for the same series and millisecond replaces the first (the
//! time-series identity InfluxDB and VictoriaMetrics use), and a sample whose `dedupe_id` the
//! tenant has sent before is stored once.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;
use crate::validation::{Field, FieldError};

/// Longest metric name, agent id or tag key, in characters.
pub const MAX_NAME_LEN: usize = 64;
/// Most tags on one sample: tags name a series, and many tags mean a cardinality explosion.
pub const MAX_TAGS: usize = 16;
/// Longest tag value.
pub const MAX_TAG_VALUE_LEN: usize = 256;
/// Longest dedupe id: room for a UUID plus a client's own prefix.
pub const MAX_DEDUPE_ID_LEN: usize = 128;

/// Whether a byte may be part of a name or an id. Every allowed character is ASCII, so a name is
/// valid exactly when each of its bytes is (no byte of a multi-byte character is); checking
/// bytes instead of decoding characters showed in the API's profile.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-')
}

/// A metric name: `[A-Za-z_][A-Za-z0-9_.:-]{0,63}`, e.g. `system.cpu.usage_pct`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MetricName(String);

impl MetricName {
    /// Validates a metric name.
    ///
    /// # Errors
    /// [`FieldError`] on [`Field::MetricName`] saying which rule the name breaks.
    pub fn new(name: impl Into<String>) -> Result<Self, FieldError> {
        let name = name.into();
        let err = |m: &str| Err(FieldError::new(Field::MetricName, m));
        let Some(&first) = name.as_bytes().first() else {
            return err("must not be empty");
        };
        if name.len() > MAX_NAME_LEN {
            return err("must be at most 64 characters");
        }
        if !(first.is_ascii_alphabetic() || first == b'_') {
            return err("must start with a letter or '_'");
        }
        if !name.bytes().all(is_name_byte) {
            return err("may contain only letters, digits, '_', '.', ':' and '-'");
        }
        Ok(Self(name))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The agent (host, device) a sample comes from: 1 to 64 of `[A-Za-z0-9_.:-]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgentId(String);

impl AgentId {
    /// Validates an agent id.
    ///
    /// # Errors
    /// [`FieldError`] on [`Field::AgentId`] saying which rule the id breaks.
    pub fn new(id: impl Into<String>) -> Result<Self, FieldError> {
        let id = id.into();
        let err = |m: &str| Err(FieldError::new(Field::AgentId, m));
        if id.is_empty() {
            return err("must not be empty");
        }
        if id.len() > MAX_NAME_LEN {
            return err("must be at most 64 characters");
        }
        if !id.bytes().all(is_name_byte) {
            return err("may contain only letters, digits, '_', '.', ':' and '-'");
        }
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A client-chosen id that makes re-sending a sample safe: 1 to 128 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DedupeId(String);

impl DedupeId {
    /// Validates a dedupe id.
    ///
    /// # Errors
    /// [`FieldError`] on [`Field::DedupeId`] when empty, longer than 128 characters, or holding
    /// a control character.
    pub fn new(id: impl Into<String>) -> Result<Self, FieldError> {
        let id = id.into();
        if id.is_empty() || id.chars().count() > MAX_DEDUPE_ID_LEN {
            return Err(FieldError::new(Field::DedupeId, "must be 1 to 128 characters"));
        }
        if id.chars().any(char::is_control) {
            return Err(FieldError::new(
                Field::DedupeId,
                "must not contain control characters (NUL, newline, ...)",
            ));
        }
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Tags that further name a series (`core=0`, `mount=/`): at most 16, keys 1 to 64
/// characters, values at most 256. Kept sorted so that equal tag sets compare equal.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<String, String>", into = "BTreeMap<String, String>")]
pub struct Tags(BTreeMap<String, String>);

impl Tags {
    /// Validates a tag set: keys and values without control characters (NUL, newline, ...),
    /// which no tag needs and which break logs, CSV exports and line protocols downstream.
    ///
    /// # Errors
    /// [`FieldError`] on [`Field::Tags`] naming the offending key.
    pub fn new(tags: BTreeMap<String, String>) -> Result<Self, FieldError> {
        let err = |m: String| Err(FieldError::new(Field::Tags, m));
        if tags.len() > MAX_TAGS {
            return err(format!("at most {MAX_TAGS} tags are allowed, got {}", tags.len()));
        }
        for (k, v) in &tags {
            let shown = k.escape_debug();
            if k.is_empty() || k.chars().count() > MAX_NAME_LEN {
                return err(format!("tag key '{shown}' must be 1 to 64 characters"));
            }
            if k.chars().any(char::is_control) {
                return err(format!("tag key '{shown}' must not contain control characters"));
            }
            if v.chars().count() > MAX_TAG_VALUE_LEN {
                return err(format!("value of tag '{shown}' must be at most 256 characters"));
            }
            if v.chars().any(char::is_control) {
                return err(format!("value of tag '{shown}' must not contain control characters"));
            }
        }
        Ok(Self(tags))
    }

    /// No tags.
    pub fn empty() -> Self {
        Self::default()
    }

    /// True when there are no tags.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tags, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The tags as a map.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

macro_rules! string_conversions {
    ($($ty:ident),*) => {$(
        impl TryFrom<String> for $ty {
            type Error = FieldError;
            fn try_from(s: String) -> Result<Self, FieldError> {
                Self::new(s)
            }
        }
        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.0
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
string_conversions!(MetricName, AgentId, DedupeId);

impl TryFrom<BTreeMap<String, String>> for Tags {
    type Error = FieldError;
    fn try_from(m: BTreeMap<String, String>) -> Result<Self, FieldError> {
        Self::new(m)
    }
}

impl From<Tags> for BTreeMap<String, String> {
    fn from(t: Tags) -> Self {
        t.0
    }
}

/// The series a sample belongs to, within one tenant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SeriesKey {
    /// Metric name.
    pub metric: MetricName,
    /// Agent, if the sample named one.
    pub agent: Option<AgentId>,
    /// Tags.
    pub tags: Tags,
}

/// One validated measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The series.
    pub series: SeriesKey,
    /// The value; always finite.
    pub value: f64,
    /// When it was measured (or received, when the client did not say).
    pub timestamp: Timestamp,
    /// Makes re-sending safe.
    pub dedupe_id: Option<DedupeId>,
}

/// Checks that a value can be stored and charted.
///
/// # Errors
/// [`FieldError`] on [`Field::Value`] for NaN and infinities.
pub fn check_value(value: f64) -> Result<f64, FieldError> {
    if value.is_finite() { Ok(value) } else { Err(FieldError::new(Field::Value, "must be a finite number")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_follow_the_documented_pattern() {
        for ok in ["cpu", "_x", "system.cpu.usage_pct", "a:b-c", &"a".repeat(64)] {
            assert!(MetricName::new(ok).is_ok(), "{ok} should be valid");
        }
        for bad in ["", "1cpu", ".cpu", "cpu usage", "cpü", &"a".repeat(65)] {
            let e = MetricName::new(bad).unwrap_err();
            assert_eq!(e.field, Field::MetricName, "{bad}");
        }
    }

    #[test]
    fn agent_ids_may_start_with_a_digit_but_not_contain_slashes() {
        assert!(AgentId::new("01-web").is_ok());
        assert!(AgentId::new("a/b").is_err());
        assert!(AgentId::new("").is_err());
        assert!(AgentId::new("x".repeat(65)).is_err());
    }

    #[test]
    fn tags_are_bounded_in_count_and_size() {
        let many: BTreeMap<_, _> = (0..17).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(Tags::new(many).unwrap_err().message.contains("at most 16"));
        let long_value = BTreeMap::from([("k".to_string(), "v".repeat(257))]);
        assert!(Tags::new(long_value).is_err());
        let empty_key = BTreeMap::from([(String::new(), "v".to_string())]);
        assert!(Tags::new(empty_key).is_err());
        let fine = BTreeMap::from([("core".to_string(), "0".to_string())]);
        assert!(Tags::new(fine).is_ok());
    }

    #[test]
    fn dedupe_ids_are_bounded() {
        assert!(DedupeId::new("x".repeat(128)).is_ok());
        assert!(DedupeId::new("x".repeat(129)).is_err());
        assert!(DedupeId::new("").is_err());
    }

    #[test]
    fn only_finite_values_are_accepted() {
        assert!(check_value(1.5).is_ok());
        assert!(check_value(f64::NAN).is_err());
        assert!(check_value(f64::INFINITY).is_err());
    }

    #[test]
    fn serde_round_trip_rejects_invalid_names() {
        assert!(serde_json::from_str::<MetricName>("\"9x\"").is_err());
        let m: MetricName = serde_json::from_str("\"cpu\"").unwrap();
        assert_eq!(m.as_str(), "cpu");
    }
}
