//! The JSON shape samples arrive in, and its validation into [`Sample`]s.
//!
//! An item is `{metric_name, value, timestamp?, agent_id?, tags?, dedupe_id?}` (`name` and `ts`
//! are accepted as short aliases); a batch is one item or an array of them. Every bad field of
//! every item is reported with its index, so one reply tells the client everything to fix.
//! This module is shared by every way samples come in (HTTP now, MQTT and the agent later), so
//! the rules cannot drift apart between transports.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::sample::{AgentId, DedupeId, MetricName, Sample, SeriesKey, Tags, check_value};
use crate::time::Timestamp;
use crate::validation::{Field, FieldError, ItemError};

/// How far in the future a timestamp may be: clocks drift, but a sample from next week is a
/// bug (often seconds sent as milliseconds or the reverse).
pub const MAX_FUTURE: Duration = Duration::from_secs(10 * 60);

/// Epoch milliseconds below this (March 1973) are almost certainly epoch *seconds*.
const SECONDS_NOT_MILLIS_BELOW: i64 = 100_000_000_000;

/// What validation needs to know about the moment and the tenant.
#[derive(Debug, Clone, Copy)]
pub struct ValidationContext {
    /// Receive time: the timestamp of items that give none, and the reference for the bounds.
    pub now: Timestamp,
    /// Oldest acceptable age: the tenant's longest retention.
    pub max_age: Duration,
}

impl ValidationContext {
    fn check_timestamp(&self, ts: Timestamp) -> Result<Timestamp, FieldError> {
        let err = |m: String| Err(FieldError::new(Field::Timestamp, m));
        let future_limit = self.now.plus_millis(MAX_FUTURE.as_millis() as i64);
        let oldest = self.now.plus_millis(-(self.max_age.as_millis() as i64));
        if ts > future_limit {
            return err(format!("{ts} is more than 10 minutes in the future (server time {})", self.now));
        }
        if ts < oldest {
            let days = self.max_age.as_secs() / 86_400;
            let mut m = format!("{ts} is older than the tenant's longest retention ({days} days)");
            if ts.as_millis() < SECONDS_NOT_MILLIS_BELOW {
                m.push_str("; integer timestamps are epoch milliseconds, this looks like seconds");
            }
            return err(m);
        }
        Ok(ts)
    }
}

/// Why a whole batch was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WireError {
    /// The body is not JSON, or not an object or an array.
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// An empty array.
    #[error("the batch is empty")]
    Empty,
    /// More items than allowed in one batch.
    #[error("{count} items in one batch; at most {max} are allowed")]
    TooManyItems {
        /// Items sent.
        count: usize,
        /// Items allowed.
        max: usize,
    },
    /// At least one item is invalid; the batch is all-or-nothing.
    #[error("{} invalid field(s); the first: {}", .0.len(), .0[0])]
    Invalid(Vec<ItemError>),
}

/// Parses and validates a batch: one JSON object or an array of them.
///
/// # Errors
/// [`WireError`]: the batch is accepted whole or not at all.
pub fn parse_batch(json: &[u8], ctx: &ValidationContext, max_items: usize) -> Result<Vec<Sample>, WireError> {
    let first = json.iter().find(|b| !b.is_ascii_whitespace());
    let items: Vec<&RawValue> = match first {
        Some(b'[') => serde_json::from_slice(json).map_err(|e| WireError::Malformed(e.to_string()))?,
        Some(b'{') => vec![serde_json::from_slice(json).map_err(|e| WireError::Malformed(e.to_string()))?],
        _ => {
            return Err(WireError::Malformed("the body must be a JSON object or an array of objects".into()));
        }
    };
    if items.is_empty() {
        return Err(WireError::Empty);
    }
    if items.len() > max_items {
        return Err(WireError::TooManyItems { count: items.len(), max: max_items });
    }
    let mut samples = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, raw) in items.into_iter().enumerate() {
        match serde_json::from_str::<WireItem>(raw.get()) {
            Ok(item) => match item.validate(ctx) {
                Ok(s) => samples.push(s),
                Err(errs) => errors.extend(errs.into_iter().map(|e| e.at(index))),
            },
            Err(e) => errors.push(ItemError { index, field: Field::Item, message: e.to_string() }),
        }
    }
    if errors.is_empty() {
        check_unique_points(&samples)?;
        Ok(samples)
    } else {
        Err(WireError::Invalid(errors))
    }
}

/// Two samples of one series at one millisecond would replace each other in the store, so
/// within one batch that is refused instead of silently keeping only the last.
fn check_unique_points(samples: &[Sample]) -> Result<(), WireError> {
    if samples.len() < 2 {
        return Ok(());
    }
    let mut first_at: HashMap<(&SeriesKey, Timestamp), usize> = HashMap::with_capacity(samples.len());
    let mut errors = Vec::new();
    for (index, s) in samples.iter().enumerate() {
        if let Some(&other) = first_at.get(&(&s.series, s.timestamp)) {
            errors.push(ItemError {
                index,
                field: Field::Timestamp,
                message: format!(
                    "item {other} has the same series and timestamp ({}); give each sample of a series its \
                     own timestamp (samples without one all get the time of receipt)",
                    s.timestamp
                ),
            });
        } else {
            first_at.insert((&s.series, s.timestamp), index);
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(WireError::Invalid(errors)) }
}

/// One item as sent, before validation. Fields hold raw JSON so that a wrong type becomes a
/// field-level error instead of failing the item as a whole.
#[derive(Debug, Default)]
pub struct WireItem {
    metric_name: Option<Value>,
    value: Option<Value>,
    timestamp: Option<Value>,
    agent_id: Option<Value>,
    tags: Option<Value>,
    dedupe_id: Option<Value>,
    problems: Vec<FieldError>,
}

impl WireItem {
    /// Validates the item into a sample, collecting every field error.
    ///
    /// # Errors
    /// Every [`FieldError`] of the item.
    pub fn validate(self, ctx: &ValidationContext) -> Result<Sample, Vec<FieldError>> {
        let mut errors = self.problems;
        fn keep<T>(errors: &mut Vec<FieldError>, r: Result<T, FieldError>) -> Option<T> {
            r.map_err(|e| errors.push(e)).ok()
        }
        let metric = keep(
            &mut errors,
            match self.metric_name {
                None | Some(Value::Null) => Err(FieldError::new(Field::MetricName, "is required")),
                Some(v) => string(v, Field::MetricName).and_then(MetricName::new),
            },
        );
        let value = keep(
            &mut errors,
            match self.value {
                None | Some(Value::Null) => Err(FieldError::new(Field::Value, "is required")),
                Some(Value::Number(n)) => n
                    .as_f64()
                    .ok_or_else(|| FieldError::new(Field::Value, "must be a number"))
                    .and_then(check_value),
                Some(_) => Err(FieldError::new(Field::Value, "must be a number")),
            },
        );
        let timestamp = keep(
            &mut errors,
            match self.timestamp {
                None | Some(Value::Null) => Ok(ctx.now),
                Some(v) => timestamp(v).and_then(|ts| ctx.check_timestamp(ts)),
            },
        );
        let agent = keep(&mut errors, optional(self.agent_id, Field::AgentId, AgentId::new));
        let dedupe_id = keep(&mut errors, optional(self.dedupe_id, Field::DedupeId, DedupeId::new));
        let tags = keep(
            &mut errors,
            match self.tags {
                None | Some(Value::Null) => Ok(Tags::empty()),
                Some(v) => tags(v),
            },
        );
        match (metric, value, timestamp, agent, dedupe_id, tags) {
            (Some(metric), Some(value), Some(timestamp), Some(agent), Some(dedupe_id), Some(tags))
                if errors.is_empty() =>
            {
                Ok(Sample { series: SeriesKey { metric, agent, tags }, value, timestamp, dedupe_id })
            }
            _ => Err(errors),
        }
    }
}

fn string(v: Value, field: Field) -> Result<String, FieldError> {
    match v {
        Value::String(s) => Ok(s),
        _ => Err(FieldError::new(field, "must be a string")),
    }
}

fn optional<T>(
    v: Option<Value>,
    field: Field,
    make: fn(String) -> Result<T, FieldError>,
) -> Result<Option<T>, FieldError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => string(v, field).and_then(make).map(Some),
    }
}

fn timestamp(v: Value) -> Result<Timestamp, FieldError> {
    let err =
        || FieldError::new(Field::Timestamp, "must be an RFC 3339 string or integer epoch milliseconds");
    match v {
        Value::String(s) => Timestamp::parse_rfc3339(&s).map_err(|m| FieldError::new(Field::Timestamp, m)),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(ms), _) => Ok(Timestamp::from_millis(ms)),
            (None, Some(f)) if f.is_finite() && f.abs() < 9.0e15 => {
                Ok(Timestamp::from_millis(f.round() as i64))
            }
            _ => Err(err()),
        },
        _ => Err(err()),
    }
}

fn tags(v: Value) -> Result<Tags, FieldError> {
    let Value::Object(map) = v else {
        return Err(FieldError::new(Field::Tags, "must be an object of string values"));
    };
    let mut out = BTreeMap::new();
    for (k, v) in map {
        match v {
            Value::String(s) => {
                out.insert(k, s);
            }
            _ => return Err(FieldError::new(Field::Tags, format!("value of tag '{k}' must be a string"))),
        }
    }
    Tags::new(out)
}

const KNOWN_FIELDS: &str = "metric_name (or name), value, timestamp (or ts), agent_id, tags, dedupe_id";

impl<'de> Deserialize<'de> for WireItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ItemVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = WireItem;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with fields ")?;
        f.write_str(KNOWN_FIELDS)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireItem, A::Error> {
        let mut item = WireItem::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let value: Value = map.next_value()?;
            let (slot, field) = match key.as_ref() {
                "metric_name" | "name" => (&mut item.metric_name, Field::MetricName),
                "value" => (&mut item.value, Field::Value),
                "timestamp" | "ts" => (&mut item.timestamp, Field::Timestamp),
                "agent_id" => (&mut item.agent_id, Field::AgentId),
                "tags" => (&mut item.tags, Field::Tags),
                "dedupe_id" => (&mut item.dedupe_id, Field::DedupeId),
                other => {
                    let msg = format!("unknown field '{other}'; expected {KNOWN_FIELDS}");
                    item.problems.push(FieldError::new(Field::Item, msg));
                    continue;
                }
            };
            if slot.replace(value).is_some() {
                let msg = format!("given twice (directly or through its alias): {key}");
                item.problems.push(FieldError::new(field, msg));
            }
        }
        Ok(item)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<WireItem, A::Error> {
        Err(de::Error::custom("an item must be a JSON object, not an array (nested arrays are not batches)"))
    }
}

/// The JSON form of a sample that clients send, for producers of samples (the agent, the load
/// generator, tests): serialising this is guaranteed to parse back through [`parse_batch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutgoingSample {
    /// Metric name.
    pub metric_name: String,
    /// Value.
    pub value: f64,
    /// Epoch milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// Agent id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Tags.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub tags: BTreeMap<String, String>,
    /// Dedupe id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedupe_id: Option<String>,
}

#[cfg(test)]
mod tests;
