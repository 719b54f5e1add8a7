//! Reading back, always of the caller's tenant only: history at the resolution that suits the
//! range (raw, 1m, 5m), reduced server-side to the point budget and paged by series; metric
//! names; the agents view.

mod agents;
mod params;
mod raw;

use std::collections::BTreeMap;

use microdash_domain::page::SeriesCursor;
use microdash_domain::resolution::{choose, raw_is_candidate, reduced_step};
use microdash_domain::rollup::{downsample_min_max, rebucket};
use microdash_domain::{AgentId, Bucket, MetricName, Resolution, Tags, TenantId, Timestamp};
use tracing::Span;

pub use agents::{AgentView, DEFAULT_AGENT_INTERVAL};
pub(crate) use params::check;
pub use params::{DEFAULT_MAX_POINTS, DEFAULT_WINDOW, MAX_LIMIT, MAX_MAX_POINTS, QueryOptions, QueryParams};
pub use raw::{DEFAULT_LIMIT, RawPage, RawQueryParams};

use crate::auth::Principal;
use crate::history_reader::HistoryReader;
use crate::ports::{
    AgentRegistryRef, ClockRef, RollupStoreRef, SampleStoreRef, SeriesReaderRef, StoreError, StoredSeries,
};

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A parameter is wrong.
    #[error("{field}: {message}")]
    InvalidParameter {
        /// The parameter.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The tenant has no agent with this id.
    #[error("no agent '{0}'")]
    UnknownAgent(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The points of one series.
#[derive(Debug, Clone, PartialEq)]
pub enum Points {
    /// Raw samples (possibly reduced to the extremes of each slice).
    Raw(Vec<(Timestamp, f64)>),
    /// Buckets keyed by their start.
    Buckets(Vec<(Timestamp, Bucket)>),
}

impl Points {
    /// How many points.
    pub fn len(&self) -> usize {
        match self {
            Points::Raw(p) => p.len(),
            Points::Buckets(b) => b.len(),
        }
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One series of a reply; with `group=none`, the one merged series (its agent and tags are
/// the query's filter).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesData {
    /// Agent of the series.
    pub agent: Option<AgentId>,
    /// Tags of the series.
    pub tags: Tags,
    /// Its points in time order.
    pub points: Points,
}

/// What a query found.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutcome {
    /// The metric queried.
    pub metric: MetricName,
    /// Inclusive start used.
    pub start: Timestamp,
    /// Inclusive end used.
    pub end: Timestamp,
    /// The resolution of the points.
    pub resolution: Resolution,
    /// Width of the buckets returned, in ms (wider than the resolution's when reduced);
    /// `None` for raw points.
    pub step_ms: Option<i64>,
    /// True when the points were reduced server-side to fit the point budget.
    pub reduced: bool,
    /// Series in order of agent then tags.
    pub series: Vec<SeriesData>,
    /// Points returned; in a raw page (`limit`), points matching in all.
    pub total: u64,
    /// Only in a raw page: `limit` cut the result.
    pub truncated: bool,
    /// Pass back as `cursor` for the next page of series; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Read-side use cases.
pub struct QueryService {
    samples: SampleStoreRef,
    history: HistoryReader,
    agents: AgentRegistryRef,
    clock: ClockRef,
    options: QueryOptions,
}

impl QueryService {
    /// Builds the service.
    pub fn new(
        samples: SampleStoreRef,
        series: SeriesReaderRef,
        rollups: RollupStoreRef,
        agents: AgentRegistryRef,
        clock: ClockRef,
        options: QueryOptions,
    ) -> Self {
        Self { samples, history: HistoryReader { series, rollups }, agents, clock, options }
    }

    /// History of one metric over a range: per series (or merged), at the resolution asked
    /// for or, with `auto`, the finest that is retained and fits `max_points`; reduced when
    /// longer, never truncated; at most [`QueryOptions::series_per_page`] series per reply.
    ///
    /// # Errors
    /// [`QueryError::InvalidParameter`] naming the parameter; [`QueryError::Store`].
    #[tracing::instrument(name = "query.history", skip_all, fields(tenant = %who.tenant, metric = %params.name, resolution = tracing::field::Empty))]
    pub async fn query(&self, who: &Principal, params: QueryParams) -> Result<QueryOutcome, QueryError> {
        let now = self.clock.now();
        let q = check(params, now, &self.options)?;
        let tenant = who.tenant;
        if let Some(limit) = q.limit {
            let page = self.raw_page(tenant, q.filter, q.start, q.end, limit).await?;
            return Ok(QueryOutcome {
                metric: page.metric,
                start: page.start,
                end: page.end,
                resolution: Resolution::Raw,
                step_ms: None,
                reduced: false,
                series: page
                    .result
                    .series
                    .into_iter()
                    .map(|s| SeriesData { agent: s.agent, tags: s.tags, points: Points::Raw(s.points) })
                    .collect(),
                total: page.result.total,
                truncated: page.result.truncated,
                next_cursor: None,
            });
        }
        let all = self.history.series.series(tenant, &q.filter).await?;
        let (page, next_cursor) = if q.merge {
            if all.len() > self.options.max_merged_series {
                return Err(QueryError::InvalidParameter {
                    field: "group",
                    message: format!(
                        "group=none would merge {} series, more than {}; narrow it with agent_id or tags",
                        all.len(),
                        self.options.max_merged_series
                    ),
                });
            }
            (all, None)
        } else {
            page_of(all, q.cursor.as_ref(), self.options.series_per_page)
        };
        let ids: Vec<_> = page.iter().map(|s| s.id).collect();

        let probe = if raw_is_candidate(q.requested, q.start, now, &who.retention) {
            Some(self.history.raw(tenant, &ids, q.start, q.end, Some(q.max_points + 1)).await?)
        } else {
            None
        };
        let raw_count = probe.as_ref().map(|p| {
            let sizes = p.iter().map(|(_, points)| points.len());
            if q.merge { sizes.sum() } else { sizes.max().unwrap_or(0) }
        });
        let resolution = choose(q.requested, q.start, q.end, now, &who.retention, q.max_points, raw_count);
        Span::current().record("resolution", resolution.as_str());

        let mut reduced = false;
        let mut step_ms = None;
        let mut by_id: BTreeMap<_, Points> = BTreeMap::new();
        match resolution {
            Resolution::Raw if raw_count.is_some_and(|n| n <= q.max_points) => {
                by_id.extend(probe.into_iter().flatten().map(|(id, p)| (id, Points::Raw(p))));
            }
            Resolution::Raw => {
                // One series at a time: memory stays at one series' range.
                for id in &ids {
                    for (id, points) in self.history.raw(tenant, &[*id], q.start, q.end, None).await? {
                        let budget = if q.merge { usize::MAX } else { q.max_points };
                        let kept = downsample_min_max(&points, q.start, q.end, budget);
                        reduced |= kept.len() < points.len();
                        by_id.insert(id, Points::Raw(kept));
                    }
                }
            }
            Resolution::OneMinute | Resolution::FiveMinutes => {
                let width = resolution.bucket_ms().unwrap_or(1);
                let step = reduced_step(resolution, q.start, q.end, q.max_points).unwrap_or(width);
                reduced = step > width;
                step_ms = Some(step);
                for (id, buckets) in self.history.buckets(tenant, resolution, &ids, q.start, q.end).await? {
                    let buckets =
                        if reduced { rebucket(buckets, step).into_iter().collect() } else { buckets };
                    by_id.insert(id, Points::Buckets(buckets));
                }
            }
        }

        let series = if q.merge {
            let (merged, was_reduced) = merge(by_id.into_values(), q.start, q.end, q.max_points, step_ms);
            reduced |= was_reduced;
            let data =
                SeriesData { agent: q.filter.agent.clone(), tags: q.filter.tags.clone(), points: merged };
            if data.points.is_empty() { Vec::new() } else { vec![data] }
        } else {
            page.into_iter()
                .filter_map(|s| {
                    let points = by_id.remove(&s.id)?;
                    (!points.is_empty()).then_some(SeriesData {
                        agent: s.key.agent,
                        tags: s.key.tags,
                        points,
                    })
                })
                .collect()
        };
        let total = series.iter().map(|s| s.points.len() as u64).sum();
        Ok(QueryOutcome {
            metric: q.filter.metric,
            start: q.start,
            end: q.end,
            resolution,
            step_ms,
            reduced,
            series,
            total,
            truncated: false,
            next_cursor,
        })
    }

    /// The tenant's metric names.
    ///
    /// # Errors
    /// [`QueryError::Store`].
    pub async fn metric_names(&self, tenant: TenantId) -> Result<Vec<MetricName>, QueryError> {
        Ok(self.samples.metric_names(tenant).await?)
    }
}

/// The series after `cursor`, at most `size` of them, and the cursor of the next page when
/// more are left.
fn page_of(
    all: Vec<StoredSeries>,
    cursor: Option<&SeriesCursor>,
    size: usize,
) -> (Vec<StoredSeries>, Option<String>) {
    let mut rest: Vec<StoredSeries> = all
        .into_iter()
        .filter(|s| cursor.is_none_or(|c| (&s.key.agent, &s.key.tags) > (&c.agent, &c.tags)))
        .collect();
    if rest.len() <= size.max(1) {
        return (rest, None);
    }
    rest.truncate(size.max(1));
    let last = rest.last().map(|s| SeriesCursor { agent: s.key.agent.clone(), tags: s.key.tags.clone() });
    (rest, last.map(|c| c.encode()))
}

/// Merges the points of several series into one (`group=none`): buckets merged by start,
/// raw points interleaved in time order and then reduced to the budget. Returns whether the
/// merge had to reduce.
fn merge(
    all: impl Iterator<Item = Points>,
    start: Timestamp,
    end: Timestamp,
    max_points: usize,
    step_ms: Option<i64>,
) -> (Points, bool) {
    match step_ms {
        Some(step) => {
            let buckets = all.flat_map(|p| match p {
                Points::Buckets(b) => b,
                Points::Raw(_) => Vec::new(),
            });
            (Points::Buckets(rebucket(buckets, step).into_iter().collect()), false)
        }
        None => {
            let mut points: Vec<(Timestamp, f64)> = all
                .flat_map(|p| match p {
                    Points::Raw(p) => p,
                    Points::Buckets(_) => Vec::new(),
                })
                .collect();
            points.sort_by_key(|p| p.0);
            let kept = downsample_min_max(&points, start, end, max_points);
            let reduced = kept.len() < points.len();
            (Points::Raw(kept), reduced)
        }
    }
}
