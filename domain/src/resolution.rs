//! Resolutions of stored history (raw samples, 1-minute and 5-minute buckets) and the rules a
//! query follows to pick one: the finest resolution that covers the range within the point
//! budget and whose data is still retained, reduced further (never truncated) when even the
//! coarsest has too many points.
//!
//! Not for: reading data. The caller probes how many raw points a range has when
//! [`raw_is_candidate`] says raw could do, and passes the count to [`choose`].

use std::fmt;
use std::time::Duration;

use crate::rollup::{FIVE_MINUTES_MS, MINUTE_MS, bucket_start};
use crate::tenant::Retention;
use crate::time::Timestamp;

/// A resolution of stored history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resolution {
    /// Samples as they were stored.
    Raw,
    /// 1-minute buckets.
    OneMinute,
    /// 5-minute buckets.
    FiveMinutes,
}

/// A resolution name that is not one of `auto`, `raw`, `1m`, `5m`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown resolution '{0}'; use auto, raw, 1m or 5m")]
pub struct UnknownResolution(pub String);

impl Resolution {
    /// Every resolution, finest first.
    pub const ALL: [Resolution; 3] = [Resolution::Raw, Resolution::OneMinute, Resolution::FiveMinutes];

    /// Parses `raw`, `1m` or `5m`.
    ///
    /// # Errors
    /// [`UnknownResolution`] for anything else.
    pub fn parse(text: &str) -> Result<Self, UnknownResolution> {
        match text {
            "raw" => Ok(Self::Raw),
            "1m" => Ok(Self::OneMinute),
            "5m" => Ok(Self::FiveMinutes),
            other => Err(UnknownResolution(other.to_owned())),
        }
    }

    /// The name used in the API: `raw`, `1m`, `5m`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::OneMinute => "1m",
            Self::FiveMinutes => "5m",
        }
    }

    /// Bucket width in milliseconds; `None` for raw samples.
    pub fn bucket_ms(self) -> Option<i64> {
        match self {
            Self::Raw => None,
            Self::OneMinute => Some(MINUTE_MS),
            Self::FiveMinutes => Some(FIVE_MINUTES_MS),
        }
    }

    /// How long a tenant keeps data of this resolution.
    pub fn kept_for(self, retention: &Retention) -> Duration {
        match self {
            Self::Raw => retention.raw,
            Self::OneMinute => retention.one_minute,
            Self::FiveMinutes => retention.five_minutes,
        }
    }

    /// The oldest time whose data of this resolution is still kept at `now`.
    pub fn retained_since(self, now: Timestamp, retention: &Retention) -> Timestamp {
        now.plus_millis(-i64::try_from(self.kept_for(retention).as_millis()).unwrap_or(i64::MAX))
    }

    /// True when data of this resolution is kept for everything from `start` on.
    pub fn covers(self, start: Timestamp, now: Timestamp, retention: &Retention) -> bool {
        start >= self.retained_since(now, retention)
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The resolution a client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// Let the server choose (see [`choose`]).
    Auto,
    /// Exactly this one.
    Fixed(Resolution),
}

impl Requested {
    /// Parses `auto`, `raw`, `1m` or `5m`.
    ///
    /// # Errors
    /// [`UnknownResolution`] for anything else.
    pub fn parse(text: &str) -> Result<Self, UnknownResolution> {
        if text == "auto" { Ok(Self::Auto) } else { Resolution::parse(text).map(Self::Fixed) }
    }
}

/// Bucket widths a reduced series may use: round numbers on a chart's time axis.
const NICE_STEPS_MS: [i64; 15] = [
    MINUTE_MS,
    2 * MINUTE_MS,
    5 * MINUTE_MS,
    10 * MINUTE_MS,
    15 * MINUTE_MS,
    30 * MINUTE_MS,
    60 * MINUTE_MS,
    120 * MINUTE_MS,
    180 * MINUTE_MS,
    360 * MINUTE_MS,
    720 * MINUTE_MS,
    1_440 * MINUTE_MS,
    2 * 1_440 * MINUTE_MS,
    7 * 1_440 * MINUTE_MS,
    30 * 1_440 * MINUTE_MS,
];

/// How many buckets of `width_ms` it takes to cover `[start, end]`.
pub fn buckets_covering(start: Timestamp, end: Timestamp, width_ms: i64) -> i64 {
    if end < start {
        return 0;
    }
    (bucket_start(end, width_ms).as_millis() - bucket_start(start, width_ms).as_millis()) / width_ms + 1
}

/// Whether `auto` should consider raw samples for `[start, ..]`: only when raw data is still
/// kept back to `start`. The caller then counts raw points (per series, or merged with
/// `group=none`) up to `max_points + 1` and passes the largest count to [`choose`].
pub fn raw_is_candidate(
    requested: Requested,
    start: Timestamp,
    now: Timestamp,
    retention: &Retention,
) -> bool {
    requested == Requested::Auto && Resolution::Raw.covers(start, now, retention)
}

/// The resolution a query uses.
///
/// A fixed request is honoured as asked. `auto` takes the finest resolution whose data is
/// kept back to `start` and that fits in `max_points`: raw when `raw_points` (the probe of
/// [`raw_is_candidate`]) is within the budget, else 1-minute, else 5-minute buckets. When none
/// fits, 5-minute buckets (the coarsest, kept longest), reduced with [`reduced_step`].
pub fn choose(
    requested: Requested,
    start: Timestamp,
    end: Timestamp,
    now: Timestamp,
    retention: &Retention,
    max_points: usize,
    raw_points: Option<usize>,
) -> Resolution {
    if let Requested::Fixed(resolution) = requested {
        return resolution;
    }
    let budget = i64::try_from(max_points).unwrap_or(i64::MAX);
    if Resolution::Raw.covers(start, now, retention) && raw_points.is_some_and(|n| n <= max_points) {
        return Resolution::Raw;
    }
    for resolution in [Resolution::OneMinute, Resolution::FiveMinutes] {
        let width = resolution.bucket_ms().unwrap_or(MINUTE_MS);
        if resolution.covers(start, now, retention) && buckets_covering(start, end, width) <= budget {
            return resolution;
        }
    }
    Resolution::FiveMinutes
}

/// The bucket width buckets of `resolution` are merged to so that `[start, end]` fits in
/// `max_points`: the resolution's own width when it fits, else the smallest round width (a
/// multiple of it) that does. `None` for raw, which is reduced by
/// [`crate::rollup::downsample_min_max`] instead.
pub fn reduced_step(
    resolution: Resolution,
    start: Timestamp,
    end: Timestamp,
    max_points: usize,
) -> Option<i64> {
    let width = resolution.bucket_ms()?;
    let budget = i64::try_from(max_points.max(1)).unwrap_or(i64::MAX);
    if buckets_covering(start, end, width) <= budget {
        return Some(width);
    }
    let nice = NICE_STEPS_MS
        .iter()
        .copied()
        .filter(|step| step % width == 0)
        .find(|&step| buckets_covering(start, end, step) <= budget);
    Some(nice.unwrap_or_else(|| {
        // Longer than every round width allows: the smallest multiple that fits.
        let needed = buckets_covering(start, end, width);
        width * ((needed + budget - 1) / budget + 1)
    }))
}

#[cfg(test)]
mod tests;
