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
    // Checking the body's UTF-8 once is cheaper than serde_json checking every string in it.
    let json = std::str::from_utf8(json)
        .map_err(|e| WireError::Malformed(format!("the body is not UTF-8 text: {e}")))?;
    match fast::parse(json, ctx, max_items) {
        Some(samples) => {
            check_unique_points(&samples)?;
            Ok(samples)
        }
        None => parse_general(json, ctx, max_items),
    }
}

/// Reads any body, and reports everything wrong with it.
fn parse_general(json: &str, ctx: &ValidationContext, max_items: usize) -> Result<Vec<Sample>, WireError> {
    // One pass over the body: each item is validated as it is read (reading the items as raw
    // JSON first and parsing each again cost a tenth of the API's time at high rates).
    let mut de = serde_json::Deserializer::from_str(json);
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
    fn add(&mut self, item: Result<Sample, Vec<FieldError>>) {
        let index = self.count;
        self.count += 1;
        match item {
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
        parsed.add(ItemVisitor.visit_map(map)?.validate(self.ctx));
        Ok(parsed)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Parsed, A::Error> {
        // serde_json gives no size hint: guess from the body (an item is rarely under 64
        // bytes), so that the samples are not copied again and again as the vector grows.
        let capacity = seq.size_hint().unwrap_or(self.body_bytes / 64).min(self.max_items);
        let mut parsed = Parsed { count: 0, samples: Vec::with_capacity(capacity), errors: Vec::new() };
        while parsed.count < self.max_items {
            match seq.next_element_seed(ElementSeed(self.ctx))? {
                Some(item) => parsed.add(item),
                None => return Ok(parsed),
            }
        }
        while seq.next_element::<de::IgnoredAny>()?.is_some() {
            parsed.count += 1;
        }
        Ok(parsed)
    }
}

/// Reads one element of a batch array into its sample, or into why it is not one (reading goes
/// on, so that every bad item is reported).
struct ElementSeed<'c>(&'c ValidationContext);

type ElementResult = Result<Sample, Vec<FieldError>>;

impl ElementSeed<'_> {
    fn not_an_object<E>(unexpected: de::Unexpected<'_>) -> Result<ElementResult, E> {
        let message = format!("invalid type: {unexpected}, expected {}", ItemVisitor.expected());
        Ok(Err(vec![FieldError::new(Field::Item, message)]))
    }
}

impl<'de> de::DeserializeSeed<'de> for ElementSeed<'_> {
    type Value = ElementResult;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ElementResult, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ElementSeed<'_> {
    type Value = ElementResult;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ItemVisitor.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ElementResult, A::Error> {
        Ok(ItemVisitor.visit_map(map)?.validate(self.0))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<ElementResult, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Err(vec![FieldError::new(Field::Item, NESTED_ARRAY)]))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<ElementResult, E> {
        Self::not_an_object(de::Unexpected::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ElementResult, E> {
        Self::not_an_object(de::Unexpected::Signed(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ElementResult, E> {
        Self::not_an_object(de::Unexpected::Unsigned(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<ElementResult, E> {
        Self::not_an_object(de::Unexpected::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ElementResult, E> {
        Self::not_an_object(de::Unexpected::Str(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<ElementResult, E> {
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

/// A field as read: absent (`None`), `null` (`Some(Ok(None))`), its value, or why the value is
/// unusable.
pub(crate) type Slot<T> = Option<Result<Option<T>, FieldError>>;

/// One item as read. Each field is turned into its own type while it is read, with no JSON tree
/// in between; [`WireItem::validate`] puts the item together and reports every problem, in a
/// fixed field order.
#[derive(Debug, Default)]
pub struct WireItem {
    pub(crate) metric_name: Slot<MetricName>,
    pub(crate) value: Slot<f64>,
    timestamp: Slot<Timestamp>,
    pub(crate) agent_id: Slot<AgentId>,
    tags: Slot<Tags>,
    dedupe_id: Slot<DedupeId>,
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
        fn given<T>(slot: Slot<T>) -> Result<Option<T>, FieldError> {
            slot.unwrap_or(Ok(None))
        }
        fn required<T>(slot: Slot<T>, field: Field) -> Result<T, FieldError> {
            given(slot)?.ok_or_else(|| FieldError::new(field, "is required"))
        }
        let metric = keep(&mut errors, required(self.metric_name, Field::MetricName));
        let value = keep(&mut errors, required(self.value, Field::Value));
        let timestamp = keep(
            &mut errors,
            given(self.timestamp).and_then(|ts| ts.map_or(Ok(ctx.now), |ts| ctx.check_timestamp(ts))),
        );
        let agent = keep(&mut errors, given(self.agent_id));
        let dedupe_id = keep(&mut errors, given(self.dedupe_id));
        let tags = keep(&mut errors, given(self.tags).map(Option::unwrap_or_default));
        match (metric, value, timestamp, agent, dedupe_id, tags) {
            (Some(metric), Some(value), Some(timestamp), Some(agent), Some(dedupe_id), Some(tags))
                if errors.is_empty() =>
            {
                Ok(Sample { series: SeriesKey { metric, agent, tags }, value, timestamp, dedupe_id })
            }
            _ => Err(errors),
        }
    }

    /// An item holding just `value`: the bare-number payload of the one-metric MQTT topic.
    pub(crate) fn of_number(n: &serde_json::Number) -> Self {
        let value = n.as_f64().ok_or_else(<f64 as FieldKind>::type_error).and_then(check_value);
        Self { value: Some(value.map(Some)), ..Self::default() }
    }
}

/// How one field takes each JSON type. A type the field does not take is its type error;
/// `null` is handled by [`FieldSeed`] for every field alike.
trait FieldKind: Sized {
    /// The field, for errors.
    const FIELD: Field;
    /// What the field must be.
    const EXPECTED: &'static str;

    fn type_error() -> FieldError {
        FieldError::new(Self::FIELD, Self::EXPECTED)
    }

    fn from_str(_: &str) -> Result<Self, FieldError> {
        Err(Self::type_error())
    }

    fn from_i64(_: i64) -> Result<Self, FieldError> {
        Err(Self::type_error())
    }

    fn from_u64(v: u64) -> Result<Self, FieldError> {
        // Past `i64::MAX` an integer is read like a float, as serde_json's `Number` does.
        i64::try_from(v).map_or_else(|_| Self::from_f64(v as f64), Self::from_i64)
    }

    fn from_f64(_: f64) -> Result<Self, FieldError> {
        Err(Self::type_error())
    }

    /// Reads an object (only tags take one); anything else is read to its end and refused.
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Result<Self, FieldError>, A::Error> {
        while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
        Ok(Err(Self::type_error()))
    }
}

macro_rules! string_field {
    ($ty:ty, $field:expr) => {
        impl FieldKind for $ty {
            const FIELD: Field = $field;
            const EXPECTED: &'static str = "must be a string";

            fn from_str(s: &str) -> Result<Self, FieldError> {
                <$ty>::new(s)
            }
        }
    };
}

string_field!(MetricName, Field::MetricName);
string_field!(AgentId, Field::AgentId);
string_field!(DedupeId, Field::DedupeId);

impl FieldKind for f64 {
    const FIELD: Field = Field::Value;
    const EXPECTED: &'static str = "must be a number";

    fn from_i64(v: i64) -> Result<Self, FieldError> {
        Ok(v as f64)
    }

    fn from_f64(v: f64) -> Result<Self, FieldError> {
        check_value(v)
    }
}

/// Parsed only: the bounds depend on the receive time, and are checked by
/// [`WireItem::validate`].
impl FieldKind for Timestamp {
    const FIELD: Field = Field::Timestamp;
    const EXPECTED: &'static str = "must be an RFC 3339 string or integer epoch milliseconds";

    fn from_str(s: &str) -> Result<Self, FieldError> {
        Timestamp::parse_rfc3339(s).map_err(|m| FieldError::new(Field::Timestamp, m))
    }

    fn from_i64(ms: i64) -> Result<Self, FieldError> {
        Ok(Timestamp::from_millis(ms))
    }

    fn from_f64(f: f64) -> Result<Self, FieldError> {
        if f.is_finite() && f.abs() < 9.0e15 {
            Ok(Timestamp::from_millis(f.round() as i64))
        } else {
            Err(Self::type_error())
        }
    }
}

impl FieldKind for Tags {
    const FIELD: Field = Field::Tags;
    const EXPECTED: &'static str = "must be an object of string values";

    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Result<Self, FieldError>, A::Error> {
        let mut tags = BTreeMap::new();
        let mut first_bad = None;
        while let Some(key) = map.next_key::<String>()? {
            match map.next_value_seed(FieldSeed::<String>(std::marker::PhantomData))? {
                Ok(Some(value)) => {
                    tags.insert(key, value);
                }
                Ok(None) | Err(_) => {
                    first_bad.get_or_insert(key);
                }
            }
        }
        Ok(match first_bad {
            Some(key) => Err(FieldError::new(Field::Tags, format!("value of tag '{key}' must be a string"))),
            None => Tags::new(tags),
        })
    }
}

/// A tag's value: a string. Any other JSON value (null too) is read to its end and makes the
/// tags invalid.
impl FieldKind for String {
    const FIELD: Field = Field::Tags;
    const EXPECTED: &'static str = "must be a string";

    fn from_str(s: &str) -> Result<Self, FieldError> {
        Ok(s.to_owned())
    }
}

/// Reads one field's value into its [`Slot`] form: a JSON type the field does not take is a
/// field error, not a failed batch.
struct FieldSeed<T>(std::marker::PhantomData<T>);

impl<'de, T: FieldKind> de::DeserializeSeed<'de> for FieldSeed<T> {
    type Value = Result<Option<T>, FieldError>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: FieldKind> Visitor<'de> for FieldSeed<T> {
    type Value = Result<Option<T>, FieldError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTED)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Ok(None))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err(T::type_error()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(T::from_i64(v).map(Some))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(T::from_u64(v).map(Some))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(T::from_f64(v).map(Some))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(T::from_str(v).map(Some))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Err(T::type_error()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(T::from_map(map)?.map(Some))
    }
}

/// Reads the next value of `map` into `slot`; true if the slot was already filled.
fn read_into<'de, A: MapAccess<'de>, T: FieldKind>(
    map: &mut A,
    slot: &mut Slot<T>,
) -> Result<bool, A::Error> {
    let value = map.next_value_seed(FieldSeed(std::marker::PhantomData))?;
    Ok(slot.replace(value).is_some())
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
            let (field, key) = match key {
                Ok(known) => known,
                Err(other) => {
                    map.next_value::<de::IgnoredAny>()?;
                    let msg = format!("unknown field '{other}'; expected {KNOWN_FIELDS}");
                    item.problems.push(FieldError::new(Field::Item, msg));
                    continue;
                }
            };
            let twice = match field {
                Field::MetricName => read_into(&mut map, &mut item.metric_name)?,
                Field::Value => read_into(&mut map, &mut item.value)?,
                Field::Timestamp => read_into(&mut map, &mut item.timestamp)?,
                Field::AgentId => read_into(&mut map, &mut item.agent_id)?,
                Field::Tags => read_into(&mut map, &mut item.tags)?,
                Field::DedupeId => read_into(&mut map, &mut item.dedupe_id)?,
                Field::Item => unreachable!("no key names the item as a whole"),
            };
            if twice {
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

mod fast;

#[cfg(test)]
mod tests;
