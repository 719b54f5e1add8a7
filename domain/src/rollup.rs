//! Rollup maths: how samples fold into fixed-width time buckets, how buckets merge, and how a
//! series too long for a chart is reduced without hiding its spikes.
//!
//! A [`Bucket`] keeps count, sum, min, max and the last value (with its time), which makes
//! folding *mergeable*: folding the samples of a bucket in any order, or in parts whose results
//! are merged, gives the same bucket, so 5-minute buckets are merged from 1-minute buckets
//! instead of re-read from raw data, and a bucket touched by late data can be merged again.
//! The average is `sum / count`, exact, never an average of averages.
//!
//! Not for: deciding which resolution a query uses (see [`crate::resolution`]) or storing
//! anything.

use std::collections::BTreeMap;

use crate::time::Timestamp;

/// One minute, in milliseconds.
pub const MINUTE_MS: i64 = 60_000;
/// Five minutes, in milliseconds.
pub const FIVE_MINUTES_MS: i64 = 5 * MINUTE_MS;

/// The start of the bucket of `width_ms` holding `ts`: buckets are aligned on the Unix epoch,
/// so every store, node and query agrees on them.
///
/// # Panics
/// When `width_ms` is not positive.
pub fn bucket_start(ts: Timestamp, width_ms: i64) -> Timestamp {
    assert!(width_ms > 0, "bucket width must be positive");
    Timestamp::from_millis(ts.as_millis().div_euclid(width_ms) * width_ms)
}

/// The aggregate of the samples of one series in one time bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// How many samples.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// The value of the newest sample.
    pub last: f64,
    /// The time of the newest sample.
    pub last_at: Timestamp,
}

impl Bucket {
    /// The bucket of one sample.
    pub fn of(at: Timestamp, value: f64) -> Self {
        Self { count: 1, sum: value, min: value, max: value, last: value, last_at: at }
    }

    /// Adds one sample.
    pub fn add(&mut self, at: Timestamp, value: f64) {
        self.merge(&Bucket::of(at, value));
    }

    /// Merges another bucket of the same series and time span into this one. Commutative and
    /// associative (up to floating-point rounding of `sum`): ties on `last_at` keep the larger
    /// `last`, so the result never depends on the order of merging.
    pub fn merge(&mut self, other: &Bucket) {
        self.count += other.count;
        self.sum += other.sum;
        if other.min < self.min {
            self.min = other.min;
        }
        if other.max > self.max {
            self.max = other.max;
        }
        if other.last_at > self.last_at || (other.last_at == self.last_at && other.last > self.last) {
            self.last = other.last;
            self.last_at = other.last_at;
        }
    }

    /// The mean, `sum / count`.
    pub fn avg(&self) -> f64 {
        self.sum / self.count as f64
    }
}

/// Folds points into one bucket; `None` when there are none.
pub fn fold(points: impl IntoIterator<Item = (Timestamp, f64)>) -> Option<Bucket> {
    let mut points = points.into_iter();
    let (at, value) = points.next()?;
    let mut bucket = Bucket::of(at, value);
    for (at, value) in points {
        bucket.add(at, value);
    }
    Some(bucket)
}

/// Folds points (in any order) into buckets of `width_ms`, keyed by bucket start.
pub fn fold_into_buckets(
    points: impl IntoIterator<Item = (Timestamp, f64)>,
    width_ms: i64,
) -> BTreeMap<Timestamp, Bucket> {
    let mut buckets: BTreeMap<Timestamp, Bucket> = BTreeMap::new();
    for (at, value) in points {
        buckets
            .entry(bucket_start(at, width_ms))
            .and_modify(|b| b.add(at, value))
            .or_insert_with(|| Bucket::of(at, value));
    }
    buckets
}

/// Merges buckets (keyed by their start, any order, possibly from several series) into
/// buckets of `width_ms`, a multiple of theirs. Exact: the result is what folding the
/// underlying samples into `width_ms` buckets would give.
pub fn rebucket(
    buckets: impl IntoIterator<Item = (Timestamp, Bucket)>,
    width_ms: i64,
) -> BTreeMap<Timestamp, Bucket> {
    let mut wide: BTreeMap<Timestamp, Bucket> = BTreeMap::new();
    for (start, bucket) in buckets {
        wide.entry(bucket_start(start, width_ms)).and_modify(|b| b.merge(&bucket)).or_insert(bucket);
    }
    wide
}

/// Reduces time-ordered points to at most `max_points` (at least 2) while keeping what a chart
/// must show: the range `[start, end]` is cut into `max_points / 2` equal slices and each slice
/// keeps its smallest and its largest point (once when they are the same point), in time
/// order. The global minimum and maximum always survive. Points already within the budget are
/// returned unchanged.
pub fn downsample_min_max(
    points: &[(Timestamp, f64)],
    start: Timestamp,
    end: Timestamp,
    max_points: usize,
) -> Vec<(Timestamp, f64)> {
    if points.len() <= max_points {
        return points.to_vec();
    }
    let slices = (max_points / 2).max(1) as i64;
    let span = (end.as_millis() - start.as_millis()).max(0) + 1;
    let width = (span + slices - 1) / slices;
    let slice_of = |t: Timestamp| ((t.as_millis() - start.as_millis()) / width).clamp(0, slices - 1);
    let mut out = Vec::with_capacity(max_points);
    let mut i = 0;
    while i < points.len() {
        let slice = slice_of(points[i].0);
        let (mut lo, mut hi) = (i, i);
        let mut j = i + 1;
        while j < points.len() && slice_of(points[j].0) == slice {
            if points[j].1 < points[lo].1 {
                lo = j;
            }
            if points[j].1 > points[hi].1 {
                hi = j;
            }
            j += 1;
        }
        out.push(points[lo.min(hi)]);
        if lo != hi {
            out.push(points[lo.max(hi)]);
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod tests;
