//! `/api/v1/metrics`: ingest, query, metric names.

use std::collections::BTreeMap;
use std::sync::Arc;

use microdash_domain::Timestamp;
use microdash_usecases::query::RawQueryParams;
use microdash_usecases::{AuthService, IngestService, QueryService};
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
    /// Missing, unknown or revoked token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Body over the size limit (default 5 MiB), more items than allowed (default 10,000), or
    /// more samples than the whole per-minute quota.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not `application/json`.
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
    401 => Unauthorized, 413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => Unprocessable,
} with_retry { 429 => TooManyRequests, 503 => Unavailable });

/// A point of a raw series.
#[derive(Object)]
struct PointBody {
    /// Epoch milliseconds.
    t: i64,
    /// The value.
    value: f64,
}

/// One series: a metric from one agent with one tag set.
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
    /// Resolution of the points: `raw`.
    resolution: String,
    /// Start of the range used, epoch milliseconds (inclusive).
    start: i64,
    /// End of the range used, epoch milliseconds (inclusive).
    end: i64,
    /// Points matching in all; more than returned when `truncated`.
    total: u64,
    /// True when `limit` cut the result: the earliest points are returned, so continue from
    /// the last one returned.
    truncated: bool,
    /// Series, ordered by agent then tags.
    series: Vec<SeriesBody>,
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
        microdash_usecases::QueryError::InvalidParameter {
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

    /// Query raw points
    ///
    /// Raw points of one metric over a time range, per series (agent and tags), earliest
    /// first. `start` and `end` take RFC 3339 date-times or integer epoch milliseconds;
    /// the default range is the last hour.
    #[oai(path = "/metrics/query", method = "get")]
    async fn query(
        &self,
        auth: TokenAuth,
        /// Metric name.
        name: Query<String>,
        /// Start of the range (inclusive). Default: one hour before `end`.
        start: Query<Option<String>>,
        /// End of the range (inclusive). Default: now.
        end: Query<Option<String>>,
        /// Only this agent's series.
        agent_id: Query<Option<String>>,
        /// Most points to return, 1 to 100,000 (default 10,000).
        limit: Query<Option<u64>>,
    ) -> QueryResponse {
        let result = async {
            let who = auth.principal(&self.auth).await?;
            let params = RawQueryParams {
                name: name.0,
                start: parse_time("start", start.0)?,
                end: parse_time("end", end.0)?,
                agent_id: agent_id.0,
                limit: limit.0.map(|l| l.min(usize::MAX as u64) as usize),
            };
            Ok::<_, ApiError>(self.query.query_raw(who.tenant, params).await?)
        };
        let out = match result.await {
            Ok(out) => out,
            Err(e) => return e.into(),
        };
        QueryResponse::Ok(Json(QueryResponseBody {
            name: out.metric.to_string(),
            resolution: "raw".into(),
            start: out.start.as_millis(),
            end: out.end.as_millis(),
            total: out.result.total,
            truncated: out.result.truncated,
            series: out
                .result
                .series
                .into_iter()
                .map(|s| SeriesBody {
                    agent_id: s.agent.map(String::from),
                    tags: s.tags.into(),
                    points: s
                        .points
                        .into_iter()
                        .map(|(t, value)| PointBody { t: t.as_millis(), value })
                        .collect(),
                })
                .collect(),
        }))
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
