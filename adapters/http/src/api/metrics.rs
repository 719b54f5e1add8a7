//! `/api/v1/metrics`: ingest, history queries, metric names.

use std::collections::BTreeMap;
use std::sync::Arc;

use microdash_domain::{Bucket, Timestamp};
use microdash_usecases::query::{Points, QueryOutcome, QueryParams};
use microdash_usecases::{AuthService, IngestService, QueryError, QueryService};
use poem::Request;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::auth::TokenAuth;
use crate::error::{ApiError, ErrorBody, error_responses};
use crate::payload::IngestPayload;

/// Metrics endpoints.
pub struct MetricsApi {
    auth: Arc<AuthService>,
    ingest: Arc<IngestService>,
    query: Arc<QueryService>,
}

impl MetricsApi {
    /// Builds the API over its services.
    pub fn new(auth: Arc<AuthService>, ingest: Arc<IngestService>, query: Arc<QueryService>) -> Self {
        Self { auth, ingest, query }
    }
}

/// The batch is queued and will be stored.
#[derive(Object)]
struct AcceptedBody {
    /// Id of this request, to quote in support questions.
    request_id: String,
    /// Number of samples accepted.
    accepted: u64,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "IngestResponse::bad_request")]
enum IngestResponse {
    /// Accepted: the samples are queued and will be stored (queryable within milliseconds).
    #[oai(status = 202)]
    Accepted(Json<AcceptedBody>),
    /// The body is sent with `Content-Encoding: gzip` but is not valid gzip.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing, unknown or revoked token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Body over the size limit (default 5 MiB; a gzip body also once inflated), more items than
    /// allowed (default 10,000), or more samples than the whole per-minute quota.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not `application/json`, or its `Content-Encoding` is neither `gzip` nor
    /// `identity`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Malformed JSON or invalid samples; `errors` lists every bad field by item index.
    /// Nothing of the request was accepted.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// The token's per-minute sample quota is used up; retry after `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// The queue is full or unreachable: nothing was accepted; retry after `Retry-After` seconds.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A bug; quote `request_id`.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
error_responses!(IngestResponse {
    400 => BadRequest, 401 => Unauthorized, 413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => Unprocessable,
} with_retry { 429 => TooManyRequests, 503 => Unavailable });

/// A point: a raw sample (`t`, `value`) or a bucket (`t`, `avg`, `min`, `max`, `count`).
#[derive(Object)]
struct PointBody {
    /// Epoch milliseconds: the sample's time, or the start of the bucket.
    t: i64,
    /// Raw points only: the value.
    #[oai(skip_serializing_if_is_none)]
    value: Option<f64>,
    /// Buckets only: the mean of the samples in the bucket (sum / count, exact).
    #[oai(skip_serializing_if_is_none)]
    avg: Option<f64>,
    /// Buckets only: the smallest sample.
    #[oai(skip_serializing_if_is_none)]
    min: Option<f64>,
    /// Buckets only: the largest sample.
    #[oai(skip_serializing_if_is_none)]
    max: Option<f64>,
    /// Buckets only: how many samples.
    #[oai(skip_serializing_if_is_none)]
    count: Option<u64>,
}

/// One series: a metric from one agent with one tag set (with `group=none`, all of them merged).
#[derive(Object)]
struct SeriesBody {
    /// The agent, when the samples named one.
    agent_id: Option<String>,
    /// The tags.
    tags: BTreeMap<String, String>,
    /// Points in time order.
    points: Vec<PointBody>,
}

/// Query result.
#[derive(Object)]
struct QueryResponseBody {
    /// The metric.
    name: String,
    /// Resolution of the points: `raw`, `1m` or `5m`.
    resolution: String,
    /// Width of each bucket in ms: the resolution's, or wider when the range was reduced to
    /// fit `max_points`. Absent for raw points.
    #[oai(skip_serializing_if_is_none)]
    step_ms: Option<i64>,
    /// True when the points were reduced server-side to fit `max_points`: buckets merged
    /// (exact avg/min/max/count), or raw points thinned to each slice's min and max.
    reduced: bool,
    /// Start of the range used, epoch milliseconds (inclusive).
    start: i64,
    /// End of the range used, epoch milliseconds (inclusive).
    end: i64,
    /// Points returned; with `limit`, points matching in all.
    total: u64,
    /// Only with `limit`: true when it cut the result (the earliest points are returned).
    truncated: bool,
    /// Series, ordered by agent then tags.
    series: Vec<SeriesBody>,
    /// More series match: pass this as `cursor` for the next page.
    #[oai(skip_serializing_if_is_none)]
    next_cursor: Option<String>,
}

impl From<QueryOutcome> for QueryResponseBody {
    fn from(out: QueryOutcome) -> Self {
        QueryResponseBody {
            name: out.metric.to_string(),
            resolution: out.resolution.as_str().to_owned(),
            step_ms: out.step_ms,
            reduced: out.reduced,
            start: out.start.as_millis(),
            end: out.end.as_millis(),
            total: out.total,
            truncated: out.truncated,
            series: out
                .series
                .into_iter()
                .map(|s| SeriesBody {
                    agent_id: s.agent.map(String::from),
                    tags: s.tags.into(),
                    points: match s.points {
                        Points::Raw(points) => points.into_iter().map(|(t, v)| raw_point(t, v)).collect(),
                        Points::Buckets(buckets) => {
                            buckets.into_iter().map(|(t, b)| bucket_point(t, &b)).collect()
                        }
                    },
                })
                .collect(),
            next_cursor: out.next_cursor,
        }
    }
}

fn raw_point(t: Timestamp, value: f64) -> PointBody {
    PointBody { t: t.as_millis(), value: Some(value), avg: None, min: None, max: None, count: None }
}

fn bucket_point(t: Timestamp, b: &Bucket) -> PointBody {
    PointBody {
        t: t.as_millis(),
        value: None,
        avg: Some(b.avg()),
        min: Some(b.min),
        max: Some(b.max),
        count: Some(b.count),
    }
}

/// The `tags[key]=value` pairs of a request's query string.
pub(crate) fn tag_params(req: &Request) -> Result<Vec<(String, String)>, ApiError> {
    let pairs: Vec<(String, String)> = req.params().map_err(|e| {
        ApiError::from(QueryError::InvalidParameter {
            field: "tags",
            message: format!("unreadable query string: {e}"),
        })
    })?;
    Ok(pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("tags[")?.strip_suffix(']')?.to_owned(), v)))
        .collect())
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "QueryResponse::bad_request")]
enum QueryResponse {
    /// The points.
    #[oai(status = 200)]
    Ok(Json<QueryResponseBody>),
    /// A parameter is wrong; `errors[].field` names it.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing, unknown or revoked token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Storage unavailable; retry shortly.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A bug; quote `request_id`.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
error_responses!(QueryResponse { 400 => BadRequest, 401 => Unauthorized } with_retry { 503 => Unavailable });

/// The tenant's metric names.
#[derive(Object)]
struct NamesBody {
    /// Sorted names.
    names: Vec<String>,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "NamesResponse::bad_request")]
enum NamesResponse {
    /// The names.
    #[oai(status = 200)]
    Ok(Json<NamesBody>),
    /// Missing, unknown or revoked token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Storage unavailable; retry shortly.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A bug; quote `request_id`.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
error_responses!(NamesResponse { 401 => Unauthorized } with_retry { 503 => Unavailable });

/// Parses a time parameter: RFC 3339 or integer epoch milliseconds.
pub(crate) fn parse_time(field: &'static str, value: Option<String>) -> Result<Option<Timestamp>, ApiError> {
    let Some(v) = value else { return Ok(None) };
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(Some(Timestamp::from_millis(ms)));
    }
    Timestamp::parse_rfc3339(&v).map(Some).map_err(|m| {
        QueryError::InvalidParameter {
            field,
            message: format!("{m}; give an RFC 3339 date-time or integer epoch milliseconds"),
        }
        .into()
    })
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Metrics")]
impl MetricsApi {
    /// Push samples
    ///
    /// Takes one sample object or an array of them. The request is all-or-nothing: if any
    /// item is invalid, nothing is accepted and the 422 lists every bad field by item index.
    /// A `202` means the batch is durably queued; it becomes queryable within milliseconds.
    #[oai(path = "/metrics", method = "post")]
    async fn ingest(&self, auth: TokenAuth, body: IngestPayload) -> IngestResponse {
        let accepted = async {
            let who = auth.principal(&self.auth).await?;
            let r = self.ingest.ingest(&who, &body.0).await?;
            Ok(AcceptedBody { request_id: r.request_id, accepted: r.accepted as u64 })
        };
        accepted.await.map_or_else(ApiError::into, |a| IngestResponse::Accepted(Json(a)))
    }

    /// Query history
    ///
    /// One metric over a time range, per series (agent and tag set) unless `group=none`
    /// merges them. `resolution=auto` (the default) picks the finest resolution that covers
    /// the range within `max_points` per series and whose data is still retained: raw points
    /// (`t`, `value`), 1-minute or 5-minute buckets (`t`, `avg`, `min`, `max`, `count`); the
    /// reply says which. Longer ranges are reduced server-side, never truncated: buckets are
    /// merged into wider ones (`step_ms`), raw points thinned to each slice's extremes.
    /// Filter by tags with `tags[key]=value` (repeatable). At most 100 series per reply;
    /// `next_cursor` pages through the rest. `start` and `end` take RFC 3339 date-times or
    /// integer epoch milliseconds; the default range is the last hour. With `limit`, the
    /// reply is instead the earliest `limit` raw points over all series, with their `total`.
    #[allow(clippy::too_many_arguments, reason = "one argument per documented query parameter")]
    #[oai(path = "/metrics/query", method = "get")]
    async fn query(
        &self,
        auth: TokenAuth,
        req: &Request,
        /// Metric name.
        name: Query<String>,
        /// Start of the range (inclusive). Default: one hour before `end`.
        start: Query<Option<String>>,
        /// End of the range (inclusive). Default: now.
        end: Query<Option<String>>,
        /// Only this agent's series.
        agent_id: Query<Option<String>>,
        /// `auto` (default), `raw`, `1m` or `5m`.
        resolution: Query<Option<String>>,
        /// Most points per series, 2 to 10,000 (default 1,000).
        max_points: Query<Option<u64>>,
        /// `series` (default): one series per agent and tag set; `none`: all merged into one.
        group: Query<Option<String>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Raw page mode: the earliest `limit` (1 to 100,000) raw points over all series.
        limit: Query<Option<u64>>,
    ) -> QueryResponse {
        let result = async {
            let who = auth.principal(&self.auth).await?;
            let params = QueryParams {
                name: name.0,
                start: parse_time("start", start.0)?,
                end: parse_time("end", end.0)?,
                agent_id: agent_id.0,
                tags: tag_params(req)?,
                resolution: resolution.0,
                max_points: max_points.0.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
                group: group.0,
                cursor: cursor.0,
                limit: limit.0.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            };
            Ok::<_, ApiError>(self.query.query(&who, params).await?)
        };
        match result.await {
            Ok(out) => QueryResponse::Ok(Json(out.into())),
            Err(e) => e.into(),
        }
    }

    /// List metric names
    ///
    /// Every metric name the tenant has stored samples for, sorted.
    #[oai(path = "/metrics/names", method = "get")]
    async fn names(&self, auth: TokenAuth) -> NamesResponse {
        let names = async {
            let who = auth.principal(&self.auth).await?;
            Ok::<_, ApiError>(self.query.metric_names(who.tenant).await?)
        };
        names.await.map_or_else(ApiError::into, |names| {
            NamesResponse::Ok(Json(NamesBody { names: names.into_iter().map(String::from).collect() }))
        })
    }
}
