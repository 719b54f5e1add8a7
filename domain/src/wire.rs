//! The JSON shape samples arrive in, and its validation into [`Sample`]s.
//!
//! An item is `{metric_name, value, timestamp?, agent_id?, tags?, dedupe_id?}` (`name` and `ts`
//! are accepted as short aliases); a batch is one item or an array of them. Every bad field of
//! every item is reported with its index, so one reply tells the client everything to fix.
//! This module is shared by every way samples come in (HTTP now, MQTT and the agent later), so
//! the rules cannot drift apart between transports.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    if !matches!(first, Some(b'[' | b'{')) {
        return Err(WireError::Malformed("the body must be a JSON object or an array of objects".into()));
    }
    // One pass over the body: each item is validated as it is read (reading the items as raw
    // JSON first and parsing each again cost a tenth of the API's time at high rates).
    let mut de = serde_json::Deserializer::from_slice(json);
    let parsed = de::DeserializeSeed::deserialize(Batch { ctx, max_items, body_bytes: json.len() }, &mut de)
        .and_then(|parsed| de.end().map(|()| parsed))
        .map_err(|e| WireError::Malformed(e.to_string()))?;
    if parsed.count == 0 {
        return Err(WireError::Empty);
    }
    if parsed.count > max_items {
        return Err(WireError::TooManyItems { count: parsed.count, max: max_items });
    }
    if parsed.errors.is_empty() {
        check_unique_points(&parsed.samples)?;
        Ok(parsed.samples)
    } else {
        Err(WireError::Invalid(parsed.errors))
    }
}

/// What reading a batch gave: the valid items' samples, every bad item's errors, and how many
/// items there were (past `max_items` they are counted, not read).
struct Parsed {
    count: usize,
    samples: Vec<Sample>,
    errors: Vec<ItemError>,
}

impl Parsed {
    fn add(&mut self, ctx: &ValidationContext, item: Result<WireItem, String>) {
        let index = self.count;
        self.count += 1;
        match item
            .map_err(|message| vec![FieldError::new(Field::Item, message)])
            .and_then(|i| i.validate(ctx))
        {
            Ok(sample) => self.samples.push(sample),
            Err(errs) => self.errors.extend(errs.into_iter().map(|e| e.at(index))),
        }
    }
}

/// Reads a body: one object, or an array of them.
struct Batch<'c> {
    ctx: &'c ValidationContext,
    max_items: usize,
    body_bytes: usize,
}

impl<'de> de::DeserializeSeed<'de> for Batch<'_> {
    type Value = Parsed;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Parsed, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Batch<'_> {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object or an array of objects")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Parsed, A::Error> {
        let mut parsed = Parsed { count: 0, samples: Vec::with_capacity(1), errors: Vec::new() };
        parsed.add(self.ctx, Ok(ItemVisitor.visit_map(map)?));
        Ok(parsed)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Parsed, A::Error> {
        // serde_json gives no size hint: guess from the body (an item is rarely under 64
        // bytes), so that the samples are not copied again and again as the vector grows.
        let capacity = seq.size_hint().unwrap_or(self.body_bytes / 64).min(self.max_items);
        let mut parsed = Parsed { count: 0, samples: Vec::with_capacity(capacity), errors: Vec::new() };
        while parsed.count < self.max_items {
            match seq.next_element::<Element>()? {
                Some(Element(item)) => parsed.add(self.ctx, item),
                None => return Ok(parsed),
            }
        }
        while seq.next_element::<de::IgnoredAny>()?.is_some() {
            parsed.count += 1;
        }
        Ok(parsed)
    }
}

/// One element of a batch array: an item, or why it is not one (reading goes on, so that
/// every bad item is reported).
struct Element(Result<WireItem, String>);

impl<'de> Deserialize<'de> for Element {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ElementVisitor)
    }
}

struct ElementVisitor;

impl ElementVisitor {
    fn not_an_object<E>(unexpected: de::Unexpected<'_>) -> Result<Element, E> {
        Ok(Element(Err(format!("invalid type: {unexpected}, expected {}", ItemVisitor.expected()))))
    }
}

impl<'de> Visitor<'de> for ElementVisitor {
    type Value = Element;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ItemVisitor.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Element, A::Error> {
        Ok(Element(Ok(ItemVisitor.visit_map(map)?)))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Element, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Element(Err(NESTED_ARRAY.to_owned())))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Element, E> {
        Self::not_an_object(de::Unexpected::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Element, E> {
        Self::not_an_object(de::Unexpected::Signed(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Element, E> {
        Self::not_an_object(de::Unexpected::Unsigned(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Element, E> {
        Self::not_an_object(de::Unexpected::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Element, E> {
        Self::not_an_object(de::Unexpected::Str(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Element, E> {
        Self::not_an_object(de::Unexpected::Unit)
    }
}

/// Two samples of one series at one millisecond would replace each other in the store, so
/// within one batch that is refused instead of silently keeping only the last.
///
/// Sorting the indices by (time, series) puts equal points next to each other, and series are
/// compared only where the times are equal: about a third of the cost of hashing every series
/// key, which showed in the API's profile at a million samples a second.
fn check_unique_points(samples: &[Sample]) -> Result<(), WireError> {
    if samples.len() < 2 {
        return Ok(());
    }
    let mut order: Vec<usize> = (0..samples.len()).collect();
    // Stable: equal points keep the order they were sent in, so a run starts with the first.
    order.sort_by(|&a, &b| {
        let (x, y) = (&samples[a], &samples[b]);
        x.timestamp.cmp(&y.timestamp).then_with(|| x.series.cmp(&y.series))
    });
    let mut errors = Vec::new();
    let mut first = order[0];
    for pair in order.windows(2) {
        let (previous, index) = (&samples[pair[0]], pair[1]);
        let s = &samples[index];
        if s.timestamp != previous.timestamp || s.series != previous.series {
            first = index;
            continue;
        }
        errors.push(ItemError {
            index,
            field: Field::Timestamp,
            message: format!(
                "item {first} has the same series and timestamp ({}); give each sample of a series its \
                 own timestamp (samples without one all get the time of receipt)",
                s.timestamp
            ),
        });
    }
    errors.sort_by_key(|e| e.index);
    if errors.is_empty() { Ok(()) } else { Err(WireError::Invalid(errors)) }
}

/// One item as sent, before validation. Fields hold raw JSON so that a wrong type becomes a
/// field-level error instead of failing the item as a whole.
#[derive(Debug, Default)]
pub struct WireItem {
    pub(crate) metric_name: Option<Value>,
    pub(crate) value: Option<Value>,
    timestamp: Option<Value>,
    pub(crate) agent_id: Option<Value>,
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

/// A field name of an item, read without allocating: a known one as its field and static
/// name, an unknown one kept for the error message.
struct Key(Result<(Field, &'static str), String>);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<Key, E> {
                Ok(Key(match name {
                    "metric_name" => Ok((Field::MetricName, "metric_name")),
                    "name" => Ok((Field::MetricName, "name")),
                    "value" => Ok((Field::Value, "value")),
                    "timestamp" => Ok((Field::Timestamp, "timestamp")),
                    "ts" => Ok((Field::Timestamp, "ts")),
                    "agent_id" => Ok((Field::AgentId, "agent_id")),
                    "tags" => Ok((Field::Tags, "tags")),
                    "dedupe_id" => Ok((Field::DedupeId, "dedupe_id")),
                    other => Err(other.to_owned()),
                }))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = WireItem;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expected())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireItem, A::Error> {
        let mut item = WireItem::default();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            let value: Value = map.next_value()?;
            let (field, key) = match key {
                Ok(known) => known,
                Err(other) => {
                    let msg = format!("unknown field '{other}'; expected {KNOWN_FIELDS}");
                    item.problems.push(FieldError::new(Field::Item, msg));
                    continue;
                }
            };
            let slot = match field {
                Field::MetricName => &mut item.metric_name,
                Field::Value => &mut item.value,
                Field::Timestamp => &mut item.timestamp,
                Field::AgentId => &mut item.agent_id,
                Field::Tags => &mut item.tags,
                Field::DedupeId => &mut item.dedupe_id,
                Field::Item => unreachable!("no key names the item as a whole"),
            };
            if slot.replace(value).is_some() {
                let msg = format!("given twice (directly or through its alias): {key}");
                item.problems.push(FieldError::new(field, msg));
            }
        }
        Ok(item)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<WireItem, A::Error> {
        Err(de::Error::custom(NESTED_ARRAY))
    }
}

impl ItemVisitor {
    /// What an item must be, for error messages.
    fn expected(&self) -> String {
        format!("a JSON object with fields {KNOWN_FIELDS}")
    }
}

const NESTED_ARRAY: &str = "an item must be a JSON object, not an array (nested arrays are not batches)";

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
