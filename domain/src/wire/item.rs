//! The item reader: one JSON object read field by field straight into its types (no JSON tree
//! in between), then validated into a [`Sample`] with every field error reported in a fixed
//! order. Shared by the batch reader, the fast reader and the MQTT payloads.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::ValidationContext;
use crate::sample::{AgentId, DedupeId, MetricName, Sample, SeriesKey, Tags, check_value};
use crate::time::Timestamp;
use crate::validation::{Field, FieldError};

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
    pub(super) timestamp: Slot<Timestamp>,
    pub(crate) agent_id: Slot<AgentId>,
    pub(super) tags: Slot<Tags>,
    pub(super) dedupe_id: Slot<DedupeId>,
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
pub(super) trait FieldKind: Sized {
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
        let mut first_repeated = None;
        while let Some(key) = map.next_key::<String>()? {
            match map.next_value_seed(FieldSeed::<String>(std::marker::PhantomData))? {
                Ok(Some(value)) => {
                    // A repeated key would silently keep one of the values; refuse it as a
                    // repeated field is refused.
                    if tags.contains_key(&key) {
                        first_repeated.get_or_insert_with(|| key.clone());
                    }
                    tags.insert(key, value);
                }
                Ok(None) | Err(_) => {
                    first_bad.get_or_insert(key);
                }
            }
        }
        Ok(match (first_bad, first_repeated) {
            (Some(key), _) => Err(FieldError::new(
                Field::Tags,
                format!("value of tag '{}' must be a string", key.escape_debug()),
            )),
            (None, Some(key)) => {
                Err(FieldError::new(Field::Tags, format!("tag key '{}' is given twice", key.escape_debug())))
            }
            (None, None) => Tags::new(tags),
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

pub(super) struct ItemVisitor;

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
    pub(super) fn expected(&self) -> String {
        format!("a JSON object with fields {KNOWN_FIELDS}")
    }
}

pub(super) const NESTED_ARRAY: &str =
    "an item must be a JSON object, not an array (nested arrays are not batches)";
