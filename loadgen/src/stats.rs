//! Summaries of measured durations: percentiles and rates.

use std::time::Duration;

use serde::Serialize;

/// Percentiles of a set of durations, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    /// Summarises `values`; `None` when there are none.
    pub(crate) fn of(mut values: Vec<Duration>) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let ms = |p| millis(percentile(&values, p));
        Some(Self {
            count: values.len(),
            p50_ms: ms(50.0),
            p90_ms: ms(90.0),
            p99_ms: ms(99.0),
            max_ms: ms(100.0),
        })
    }
}

/// The nearest-rank percentile `p` (0 to 100) of `sorted`: the smallest value with at least
/// `p` % of the values at or below it, so every reported value was really measured.
///
/// # Panics
/// When `sorted` is empty.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds with microsecond precision, for reports.
pub(crate) fn millis(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

/// `count` per second over `elapsed`; zero when nothing elapsed.
pub(crate) fn per_second(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    // Whole units: a fraction of a sample per second is noise in a load test.
    if secs > 0.0 { (count as f64 / secs).round() } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(list: &[u64]) -> Vec<Duration> {
        list.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn nearest_rank_percentiles_of_one_to_a_hundred_are_the_ranks() {
        let v = ms(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&v, 0.0), Duration::from_millis(1));
    }

    #[test]
    fn percentiles_of_few_values_are_measured_values() {
        let p = Percentiles::of(ms(&[30, 10, 20])).unwrap();
        assert_eq!((p.count, p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms), (3, 20.0, 30.0, 30.0, 30.0));
        let one = Percentiles::of(ms(&[7])).unwrap();
        assert_eq!((one.p50_ms, one.max_ms), (7.0, 7.0));
        assert!(Percentiles::of(Vec::new()).is_none());
    }

    #[test]
    fn millis_keep_microseconds() {
        assert_eq!(millis(Duration::from_micros(1_234_567)), 1234.567);
    }

    #[test]
    fn rates_over_no_time_are_zero() {
        assert_eq!(per_second(10, Duration::ZERO), 0.0);
        assert_eq!(per_second(3000, Duration::from_millis(1500)), 2000.0);
    }
}
