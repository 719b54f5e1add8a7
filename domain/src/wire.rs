//! The JSON shape samples arrive in, and its validation into [`Sample`]s.
//!
//! An item is `{metric_name, value, timestamp?, agent_id?, tags?, dedupe_id?}` (`name` and `ts`
//! are accepted as short aliases); a batch is one item or an array of them. Every bad field of
//! every item is reported with its index, so one reply tells the client everything to fix.
//! This module is shared by every way samples come in (HTTP now, MQTT and the agent later), so
//! the rules cannot drift apart between transports.
//!
//! # Layout
//! - this file: the entry point [`parse_batch`], its [`ValidationContext`] and [`WireError`],
//!   and [`OutgoingSample`] for producers.
//! - `fast`: a reader without serde for the common shape of a batch; it hands anything unusual
//!   to the general reader.
//! - `batch`: the general batch reader (one item or an array, every bad item reported).
//! - `item`: the item reader ([`WireItem`]), field by field, and its validation.

mod batch;
mod fast;
mod item;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub(crate) use item::Slot;
pub use item::WireItem;

use crate::sample::Sample;
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
            batch::check_unique_points(&samples)?;
            Ok(samples)
        }
        None => batch::parse_general(json, ctx, max_items),
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
