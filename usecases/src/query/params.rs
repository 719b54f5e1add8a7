//! The parameters of a history query (shared by queries and exports), as the client states
//! them, and their validation into what the services use. Every refusal names the parameter.

use std::collections::BTreeMap;
use std::time::Duration;

use microdash_domain::duration::format_duration;
use microdash_domain::page::SeriesCursor;
use microdash_domain::resolution::Requested;
use microdash_domain::{AgentId, MetricName, Tags, Timestamp};

use super::QueryError;
use crate::ports::SeriesFilter;

/// Default window when a query gives no `start`: the last hour, what a dashboard opens on.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);
/// Default points per series.
pub const DEFAULT_MAX_POINTS: usize = 1_000;
/// Largest `max_points`: a chart wider than 10,000 pixels is rare.
pub const MAX_MAX_POINTS: usize = 10_000;
/// Largest `limit` of a raw page: a reply stays a few MB.
pub const MAX_LIMIT: usize = 100_000;

/// A query as the client states it; all optional but the name.
#[derive(Debug, Clone, Default)]
pub struct QueryParams {
    /// Metric name.
    pub name: String,
    /// Inclusive start (default: `end` minus one hour).
    pub start: Option<Timestamp>,
    /// Inclusive end (default: now).
    pub end: Option<Timestamp>,
    /// Only this agent.
    pub agent_id: Option<String>,
    /// Only series with these tags (`tags[key]=value`).
    pub tags: Vec<(String, String)>,
    /// `auto` (default), `raw`, `1m` or `5m`.
    pub resolution: Option<String>,
    /// Most points per series (default 1,000).
    pub max_points: Option<usize>,
    /// `series` (default: one series per agent and tag set) or `none` (everything merged).
    pub group: Option<String>,
    /// Where the previous page of series ended.
    pub cursor: Option<String>,
    /// Raw page mode: the earliest `limit` raw points over all series, with their total.
    pub limit: Option<usize>,
}

/// Limits that protect the server, set by the operator.
#[derive(Debug, Clone, Copy)]
pub struct QueryOptions {
    /// Longest range a query may span (raw pages with `limit` excepted: they are bounded by it).
    pub max_range: Duration,
    /// Series per reply; more are reached with the cursor.
    pub series_per_page: usize,
    /// Most series `group=none` merges.
    pub max_merged_series: usize,
}

impl Default for QueryOptions {
    fn default() -> Self {
        Self { max_range: Duration::from_secs(35 * 86_400), series_per_page: 100, max_merged_series: 1_000 }
    }
}

/// Validated parameters.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub filter: SeriesFilter,
    pub start: Timestamp,
    pub end: Timestamp,
    pub requested: Requested,
    pub max_points: usize,
    pub merge: bool,
    pub cursor: Option<SeriesCursor>,
    pub limit: Option<usize>,
}

fn invalid(field: &'static str, message: impl Into<String>) -> QueryError {
    QueryError::InvalidParameter { field, message: message.into() }
}

/// Validates `params` at `now`.
pub(crate) fn check(
    params: QueryParams,
    now: Timestamp,
    options: &QueryOptions,
) -> Result<Checked, QueryError> {
    let metric = MetricName::new(params.name).map_err(|e| invalid("name", e.message))?;
    let agent = params.agent_id.map(AgentId::new).transpose().map_err(|e| invalid("agent_id", e.message))?;
    let tags = Tags::new(params.tags.into_iter().collect::<BTreeMap<_, _>>())
        .map_err(|e| invalid("tags", e.message))?;
    let end = params.end.unwrap_or(now);
    let start = params.start.unwrap_or(end.plus_millis(-(DEFAULT_WINDOW.as_millis() as i64)));
    if start > end {
        return Err(invalid("start", format!("start ({start}) is after end ({end})")));
    }
    let requested = match params.resolution.as_deref() {
        None => Requested::Auto,
        Some(text) => Requested::parse(text).map_err(|e| invalid("resolution", e.to_string()))?,
    };
    let max_points = params.max_points.unwrap_or(DEFAULT_MAX_POINTS);
    if !(2..=MAX_MAX_POINTS).contains(&max_points) {
        return Err(invalid("max_points", format!("must be between 2 and {MAX_MAX_POINTS}")));
    }
    let merge = match params.group.as_deref() {
        None | Some("series") => false,
        Some("none") => true,
        Some(other) => {
            return Err(invalid("group", format!("unknown grouping '{other}'; use series or none")));
        }
    };
    let cursor = params
        .cursor
        .map(|c| SeriesCursor::decode(&c))
        .transpose()
        .map_err(|e| invalid("cursor", e.to_string()))?;
    if merge && cursor.is_some() {
        return Err(invalid("cursor", "group=none replies hold one series and have no next page"));
    }
    let limit = params.limit;
    if let Some(limit) = limit {
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(invalid("limit", format!("must be between 1 and {MAX_LIMIT}")));
        }
        if !matches!(requested, Requested::Auto | Requested::Fixed(microdash_domain::Resolution::Raw)) {
            return Err(invalid("limit", "pages raw points only; drop it or use resolution=raw"));
        }
        if merge || cursor.is_some() {
            return Err(invalid("limit", "cannot be combined with group=none or a cursor"));
        }
    } else {
        let span = Duration::from_millis(
            u64::try_from(end.as_millis().saturating_sub(start.as_millis())).unwrap_or(u64::MAX),
        );
        if span > options.max_range {
            return Err(invalid(
                "start",
                format!(
                    "the range from start to end ({}) is longer than the {} allowed; query shorter ranges",
                    format_duration(span),
                    format_duration(options.max_range)
                ),
            ));
        }
    }
    Ok(Checked {
        filter: SeriesFilter { metric, agent, tags },
        start,
        end,
        requested,
        max_points,
        merge,
        cursor,
        limit,
    })
}
