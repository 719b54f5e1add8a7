//! Rollup buckets and late-sample marks as stored: the bucket tables and rows, merging a
//! late delta into a stored bucket, the marks a batch makes for samples of closed minutes, and
//! the versions of those marks.

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};

use microdash_domain::rollup::{MINUTE_MS, bucket_start};
use microdash_domain::{Bucket, Resolution, Sample, Timestamp};
use microdash_usecases::ports::{DirtyBucket, SeriesId, StoreError};

use super::group_by_series;

/// The table holding buckets of `resolution`.
pub(crate) fn bucket_table(resolution: Resolution) -> Result<&'static str, StoreError> {
    match resolution {
        Resolution::OneMinute => Ok("rollup_1m"),
        Resolution::FiveMinutes => Ok("rollup_5m"),
        Resolution::Raw => {
            Err(StoreError::Rejected { message: "raw data has no buckets".into(), source: None })
        }
    }
}

/// Every column of a bucket table, as a literal for `concat!`.
macro_rules! bucket_columns {
    () => {
        "series_id, bucket, cnt, sum_v, min_v, max_v, last_v, last_at"
    };
}
pub(crate) use bucket_columns;

/// Every column of a bucket table qualified by a table alias (`"b."`), as a literal.
macro_rules! bucket_columns_of {
    ($p:literal) => {
        concat!(
            $p,
            "series_id, ",
            $p,
            "bucket, ",
            $p,
            "cnt, ",
            $p,
            "sum_v, ",
            $p,
            "min_v, ",
            $p,
            "max_v, ",
            $p,
            "last_v, ",
            $p,
            "last_at"
        )
    };
}
pub(crate) use bucket_columns_of;

/// A bucket row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct BucketRow {
    pub(crate) series_id: i64,
    pub(crate) bucket: i64,
    pub(crate) cnt: i64,
    pub(crate) sum_v: f64,
    pub(crate) min_v: f64,
    pub(crate) max_v: f64,
    pub(crate) last_v: f64,
    pub(crate) last_at: i64,
}

impl BucketRow {
    pub(crate) fn into_parts(self) -> (SeriesId, Timestamp, Bucket) {
        let bucket = Bucket {
            count: u64::try_from(self.cnt).unwrap_or_default(),
            sum: self.sum_v,
            min: self.min_v,
            max: self.max_v,
            last: self.last_v,
            last_at: Timestamp::from_millis(self.last_at),
        };
        (SeriesId(self.series_id), Timestamp::from_millis(self.bucket), bucket)
    }
}

/// Bucket rows grouped by series, in the order of `ids`.
pub(crate) fn group_buckets(
    ids: &[SeriesId],
    rows: Vec<BucketRow>,
) -> Vec<(SeriesId, Vec<(Timestamp, Bucket)>)> {
    let parts = rows.into_iter().map(|r| {
        let (id, at, b) = r.into_parts();
        (id, (at, b))
    });
    group_by_series(ids, parts)
}

/// A stored bucket with `delta` folded in, or `delta` alone when nothing is stored yet.
pub(crate) fn merged_bucket(stored: Option<BucketRow>, delta: &Bucket) -> Bucket {
    match stored {
        Some(row) => {
            let mut merged = row.into_parts().2;
            merged.merge(delta);
            merged
        }
        None => *delta,
    }
}

/// `rollup_dirty` rows `(series_id, minute, version)` as the port's marks.
pub(crate) fn dirty_from_rows(rows: Vec<(i64, i64, i64)>) -> Vec<DirtyBucket> {
    rows.into_iter()
        .map(|(s, m, version)| DirtyBucket {
            series: SeriesId(s),
            minute: Timestamp::from_millis(m),
            version,
        })
        .collect()
}

/// The distinct (series id, minute) of the samples at `kept` whose minute is before `closed`:
/// late samples, whose bucket must be folded again. Sorted, so writers lock marks in one order.
pub(crate) fn late_marks(
    batch: &[Sample],
    kept: &[usize],
    series_ids: &[i64],
    closed: i64,
) -> Vec<(i64, i64)> {
    let marks: BTreeSet<(i64, i64)> = kept
        .iter()
        .map(|&i| (series_ids[i], bucket_start(batch[i].timestamp, MINUTE_MS).as_millis()))
        .filter(|&(_, minute)| minute < closed)
        .collect();
    marks.into_iter().collect()
}

/// A version for a late-sample mark, different from every version handed out before by this
/// process and, starting from the clock's nanoseconds, almost surely from those of any other.
/// A mark is only cleared by whoever read its current version, so a version must not repeat
/// for a mark that was cleared and made again.
pub(crate) fn next_version() -> i64 {
    static NEXT: OnceLock<AtomicI64> = OnceLock::new();
    let counter = NEXT.get_or_init(|| {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        AtomicI64::new(i64::try_from(nanos).unwrap_or(1))
    });
    counter.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use microdash_domain::sample::SeriesKey;
    use microdash_domain::{MetricName, Tags};

    use super::*;

    fn at(ts: i64) -> Sample {
        Sample {
            series: SeriesKey { metric: MetricName::new("m").unwrap(), agent: None, tags: Tags::empty() },
            value: 0.0,
            timestamp: Timestamp::from_millis(ts),
            dedupe_id: None,
        }
    }

    #[test]
    fn only_samples_of_closed_minutes_make_marks_once_per_series_and_minute() {
        let batch = [at(61_000), at(119_999), at(120_000), at(5_000), at(65_000)];
        let ids = [7, 7, 7, 3, 9];
        let marks = late_marks(&batch, &[0, 1, 2, 3], &ids, 120_000);
        assert_eq!(marks, vec![(3, 0), (7, 60_000)], "sample 4 was not kept; 120,000 is not closed");
    }

    #[test]
    fn versions_never_repeat() {
        let a = next_version();
        let b = next_version();
        assert!(b > a);
    }

    #[test]
    fn raw_data_has_no_bucket_table() {
        assert!(bucket_table(Resolution::Raw).is_err());
    }
}
