//! The batch reader: a body of one item or an array of items, read in one pass, every bad
//! item reported with its index, then checked for repeated points. Used for every body the
//! fast reader (`fast`) does not take.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::item::{ItemVisitor, NESTED_ARRAY};
use super::{ValidationContext, WireError};
use crate::sample::Sample;
use crate::validation::{Field, FieldError, ItemError};

/// Reads any body, and reports everything wrong with it.
pub(super) fn parse_general(
    json: &str,
    ctx: &ValidationContext,
    max_items: usize,
) -> Result<Vec<Sample>, WireError> {
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
pub(super) fn check_unique_points(samples: &[Sample]) -> Result<(), WireError> {
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
