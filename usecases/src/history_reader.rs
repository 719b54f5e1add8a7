//! Reading stored history at one resolution, shared by queries and exports: buckets the rollup
//! job has stored, completed by buckets folded from raw data for the minutes it has not
//! reached yet, so a chart's last minutes are never missing.

use std::collections::HashMap;

use microdash_domain::rollup::{bucket_start, rebucket};
use microdash_domain::{Bucket, Resolution, TenantId, Timestamp};

use crate::ports::{RollupStoreRef, SeriesBuckets, SeriesId, SeriesPoints, SeriesReaderRef, StoreError};

/// Reads raw points and buckets.
#[derive(Clone)]
pub(crate) struct HistoryReader {
    pub series: SeriesReaderRef,
    pub rollups: RollupStoreRef,
}

impl HistoryReader {
    /// Raw points, per series (see [`crate::ports::SeriesReader::read_points`]).
    pub async fn raw(
        &self,
        tenant: TenantId,
        ids: &[SeriesId],
        start: Timestamp,
        end: Timestamp,
        limit_per_series: Option<usize>,
    ) -> Result<Vec<SeriesPoints>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.series.read_points(tenant, ids, start, end, limit_per_series).await
    }

    /// Buckets of `resolution` whose start lies in `[bucket of start, end]`, per series that
    /// has any, in the order of `ids`.
    pub async fn buckets(
        &self,
        tenant: TenantId,
        resolution: Resolution,
        ids: &[SeriesId],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<SeriesBuckets>, StoreError> {
        let Some(width) = resolution.bucket_ms() else {
            return Err(StoreError::Rejected { message: "raw data has no buckets".into(), source: None });
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let first = bucket_start(start, width);
        let stored_until = bucket_start(self.rollups.folded_until(tenant).await?, width);
        let mut by_series: HashMap<SeriesId, Vec<(Timestamp, Bucket)>> = HashMap::new();
        if first < stored_until {
            let last = end.min(stored_until.plus_millis(-1));
            for (id, buckets) in self.rollups.read_buckets(tenant, resolution, ids, first, last, None).await?
            {
                by_series.entry(id).or_default().extend(buckets);
            }
        }
        if end >= stored_until {
            // Not folded yet: fold the raw samples now, whole buckets only.
            let from = first.max(stored_until);
            let to = bucket_start(end, width).plus_millis(width);
            for (id, minutes) in self.rollups.fold_raw(tenant, ids, from, to).await? {
                by_series.entry(id).or_default().extend(rebucket(minutes, width));
            }
        }
        Ok(ids.iter().filter_map(|id| by_series.remove(id).map(|b| (*id, b))).collect())
    }
}
