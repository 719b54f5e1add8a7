//! Live samples: `/api/v1/stream/{tenant}` (Server-Sent Events), the stream tickets a browser
//! opens it with, and `/api/v1/metrics/live`, the long-poll fallback with the same events and
//! the same ids, so a client can switch transports without losing or repeating samples.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use microdash_usecases::live::{LiveEvent, LiveFilter, LiveItem, LivePoll, ResetReason};
use microdash_usecases::{AuthService, LiveError, LiveService, Viewer};
use poem::web::sse::Event;
use poem_openapi::auth::ApiKey;
use poem_openapi::error::AuthorizationError;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{EventStream, Json};
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, Object, OpenApi, SecurityScheme, Union};

use super::ApiTags;
use crate::auth::TokenAuth;
use crate::error::{ApiError, ErrorBody, error_responses};

/// How often an idle stream sends a comment line, so that proxies and load balancers do not
/// close it for inactivity (most give up after 30 to 60 s).
const HEARTBEAT: Duration = Duration::from_secs(15);

/// A long-poll's wait when the client gives none: below common 30 s proxy timeouts.
const DEFAULT_POLL_WAIT: Duration = Duration::from_secs(25);

/// Live endpoints.
pub struct LiveApi {
    auth: Arc<AuthService>,
    live: Arc<LiveService>,
}

impl LiveApi {
    /// Builds the API over its services.
    pub fn new(auth: Arc<AuthService>, live: Arc<LiveService>) -> Self {
        Self { auth, live }
    }
}

/// `?ticket=<stream ticket>`, for browsers: `EventSource` cannot send headers.
#[derive(SecurityScheme)]
#[oai(ty = "api_key", key_name = "ticket", key_in = "query", rename = "StreamTicket")]
struct StreamTicketParam(ApiKey);

/// A stream ticket, or an API token in a header.
#[derive(SecurityScheme)]
enum StreamAuth {
    /// Stream ticket in the query.
    Ticket(StreamTicketParam),
    /// API token in a header.
    Token(TokenAuth),
}

impl StreamAuth {
    async fn viewer(&self, auth: &AuthService, live: &LiveService) -> Result<Viewer, ApiError> {
        match self {
            StreamAuth::Ticket(t) => Ok(live.redeem_ticket(&t.0.key)?),
            StreamAuth::Token(token) => Ok(Viewer::from(&token.principal(auth).await?)),
        }
    }
}

/// A stream ticket.
#[derive(Object)]
struct TicketBody {
    /// Pass it as `?ticket=` to `GET /api/v1/stream/{tenant}` (or `/api/v1/metrics/live`).
    ticket: String,
    /// The tenant whose stream it opens.
    tenant: String,
    /// When it stops opening streams, epoch milliseconds (streams already open stay open).
    expires_at: i64,
    /// The stream's path, ready to use with the ticket.
    stream_path: String,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "TicketResponse::bad_request")]
enum TicketResponse {
    /// A ticket valid for one minute.
    #[oai(status = 201)]
    Created(Json<TicketBody>, #[oai(header = "Cache-Control")] String),
    /// Missing, unknown or revoked token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The token store is unavailable; retry shortly.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A bug; quote `request_id`.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
error_responses!(TicketResponse { 401 => Unauthorized } with_retry { 503 => Unavailable });

/// One stored sample.
#[derive(Object, Clone, Debug, PartialEq)]
struct LiveSampleBody {
    /// The metric.
    metric_name: String,
    /// The agent, when the sample named one.
    #[oai(skip_serializing_if_is_none)]
    agent_id: Option<String>,
    /// The tags.
    tags: BTreeMap<String, String>,
    /// The value.
    value: f64,
    /// When it was measured, epoch milliseconds.
    timestamp: i64,
}

/// Samples stored together. SSE event `samples`.
#[derive(Object, Clone, Debug, PartialEq)]
struct SamplesEventBody {
    /// The event id (also the SSE `id:`): increasing per tenant, the same on every server.
    id: String,
    /// The selected samples, in storage order.
    samples: Vec<LiveSampleBody>,
}

/// Reload history from `/api/v1/metrics/query`, then continue after `id`. SSE event `reset`.
#[derive(Object, Clone, Debug, PartialEq)]
struct ResetEventBody {
    /// The id to continue after (also the SSE `id:`, so a reconnect resumes from it).
    id: String,
    /// `resume_point_too_old` (the events since `Last-Event-ID` are no longer held),
    /// `messages_missed` (the server missed some) or `too_slow` (the connection fell behind;
    /// the server then closes it).
    reason: String,
    /// The same, for humans.
    message: String,
}

/// An event of the stream; the SSE event name is `type`.
#[derive(Union, Clone, Debug, PartialEq)]
#[oai(discriminator_name = "type")]
enum StreamEventBody {
    /// New samples.
    #[oai(mapping = "samples")]
    Samples(SamplesEventBody),
    /// Reload history.
    #[oai(mapping = "reset")]
    Reset(ResetEventBody),
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "StreamResponse::refused")]
enum StreamResponse {
    /// `text/event-stream` of `samples` and `reset` events, each with an `id:`; a comment
    /// line every 15 s while idle.
    #[oai(status = 200)]
    Ok(EventStream<BoxStream<'static, StreamEventBody>>),
    /// A parameter is wrong; `errors[].field` names it.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No credential, or an unknown, revoked, invalid (`invalid_ticket`) or expired
    /// (`ticket_expired`) one.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The credential belongs to another tenant.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// Too many live streams for the tenant or the server; retry after `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// Shutting down or the live bus is unreachable; retry (another server) shortly.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A bug; quote `request_id`.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
error_responses!(StreamResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden,
} with_retry { 429 => TooManyRequests, 503 => Unavailable });

/// A long-poll answer.
#[derive(Object, Clone, Debug, PartialEq)]
struct LivePollBody {
    /// Events after `since`, oldest first; empty when none came within `wait`.
    events: Vec<SamplesEventBody>,
    /// Pass as `since` next time (it may be past the last event when newer ones did not
    /// match the filter).
    last_event_id: String,
    /// Present when history must be reloaded first.
    #[oai(skip_serializing_if_is_none)]
    reset: Option<ResetEventBody>,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "PollResponse::refused")]
enum PollResponse {
    /// The events, or none after `wait`.
    #[oai(status = 200)]
    Ok(Json<LivePollBody>),
    /// A parameter is wrong; `errors[].field` names it.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No credential, or an unknown, revoked, invalid or expired one.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Too many live clients for the tenant or the server; retry after `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// Shutting down or the live bus is unreachable; retry shortly.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A bug; quote `request_id`.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
error_responses!(PollResponse { 400 => BadRequest, 401 => Unauthorized } with_retry {
    429 => TooManyRequests, 503 => Unavailable,
});

/// poem's own refusals as JSON; a client without a credential is told about tickets too.
fn refused<R: From<ApiError>>(e: poem::Error, otherwise: fn(poem::Error) -> R) -> R {
    if e.is::<AuthorizationError>() { ApiError::missing_stream_credential().into() } else { otherwise(e) }
}

impl StreamResponse {
    fn refused(e: poem::Error) -> Self {
        refused(e, Self::bad_request)
    }
}

impl PollResponse {
    fn refused(e: poem::Error) -> Self {
        refused(e, Self::bad_request)
    }
}

fn samples_body(event: &LiveEvent) -> SamplesEventBody {
    SamplesEventBody {
        id: event.id.to_string(),
        samples: event
            .samples
            .iter()
            .map(|s| LiveSampleBody {
                metric_name: s.series.metric.to_string(),
                agent_id: s.series.agent.as_ref().map(ToString::to_string),
                tags: s.series.tags.as_map().clone(),
                value: s.value,
                timestamp: s.timestamp.as_millis(),
            })
            .collect(),
    }
}

fn reset_body(id: u64, reason: ResetReason) -> ResetEventBody {
    let message = match reason {
        ResetReason::TooOld => "the events since the given id are no longer held here",
        ResetReason::Missed => "the server missed live messages",
        ResetReason::TooSlow => "the connection fell too far behind and is closed",
    };
    ResetEventBody {
        id: id.to_string(),
        reason: reason.as_str().into(),
        message: format!("{message}; reload history from /api/v1/metrics/query, then continue after id {id}"),
    }
}

fn event_body(item: LiveItem) -> StreamEventBody {
    match item {
        LiveItem::Samples(event) => StreamEventBody::Samples(samples_body(&event)),
        LiveItem::Reset { id, reason } => StreamEventBody::Reset(reset_body(id, reason)),
    }
}

fn to_sse(body: StreamEventBody) -> Event {
    let (kind, id) = match &body {
        StreamEventBody::Samples(s) => ("samples", s.id.clone()),
        StreamEventBody::Reset(r) => ("reset", r.id.clone()),
    };
    Event::message(body.to_json_string()).event_type(kind).id(id)
}

/// The id to resume after. One this server cannot read was not given out by it, so it is
/// treated like any unknown id: the client is told to reload (rather than refused, which
/// would stop a browser's `EventSource` from reconnecting at all).
fn resume_point(id: &str) -> u64 {
    id.trim().parse().unwrap_or(u64::MAX)
}

fn invalid(field: &'static str, message: impl Into<String>) -> ApiError {
    LiveError::InvalidParameter { field, message: message.into() }.into()
}

/// `25s`, `500ms`, `1m` or bare seconds.
fn parse_wait(text: &str) -> Result<Duration, ApiError> {
    microdash_domain::duration::parse_duration(text).map_err(|m| invalid("wait", m))
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Live")]
impl LiveApi {
    /// Get a stream ticket
    ///
    /// A ticket for the token's tenant, valid for one minute, to open the live stream from a
    /// browser: `new EventSource('/api/v1/stream/<tenant>?ticket=<ticket>')`. It lets a page
    /// open streams without putting the API token in a URL. Any server of the deployment
    /// accepts it.
    #[oai(path = "/stream/tickets", method = "post")]
    async fn ticket(&self, auth: TokenAuth) -> TicketResponse {
        match auth.principal(&self.auth).await {
            Ok(who) => {
                let t = self.live.issue_ticket(&Viewer::from(&who));
                let stream_path = format!("/api/v1/stream/{}", t.tenant);
                let body = TicketBody {
                    ticket: t.ticket,
                    tenant: t.tenant.to_string(),
                    expires_at: t.expires_at.as_millis(),
                    stream_path,
                };
                TicketResponse::Created(Json(body), "no-store".into())
            }
            Err(e) => e.into(),
        }
    }

    /// Stream live samples
    ///
    /// Server-Sent Events: one `samples` event per batch of stored samples of the selected
    /// metrics and agents, each with an `id:`. To resume after a disconnection send
    /// `Last-Event-ID` (browsers do it by themselves) or `?last_event_id=`: the missed events
    /// come first, or a `reset` event when they are no longer held, meaning "reload history
    /// from the query API, then continue". A connection that falls too far behind gets a
    /// `reset` and is closed. Authenticate with `?ticket=` (browsers) or a token header.
    #[oai(path = "/stream/:tenant", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn stream(
        &self,
        auth: StreamAuth,
        /// The tenant's slug; it must be the credential's tenant.
        tenant: Path<String>,
        /// Comma-separated metric names; default all.
        metrics: Query<Option<String>>,
        /// Comma-separated agent ids; default all.
        agent_id: Query<Option<String>>,
        /// The last event id received, when `Last-Event-ID` cannot be sent.
        last_event_id: Query<Option<String>>,
        /// The last event id received (sent by `EventSource` when it reconnects).
        #[oai(name = "Last-Event-ID")]
        last_event_id_header: Header<Option<String>>,
    ) -> StreamResponse {
        let opened = async {
            let viewer = auth.viewer(&self.auth, &self.live).await?;
            let filter = LiveFilter::parse(metrics.0.as_deref(), agent_id.0.as_deref())?;
            let resume = last_event_id_header.0.or(last_event_id.0).map(|id| resume_point(&id));
            Ok::<_, ApiError>(self.live.open(&viewer, &tenant.0, filter, resume).await?)
        };
        match opened.await {
            Ok(stream) => StreamResponse::Ok(
                EventStream::new(stream.map(event_body).boxed()).keep_alive(HEARTBEAT).to_event(to_sse),
            ),
            Err(e) => e.into(),
        }
    }

    /// Long-poll live samples
    ///
    /// The fallback where Server-Sent Events are blocked: the events after `since` for the
    /// selected metrics and agents, answered as soon as there are any, or empty after
    /// `wait`. The events and ids are those of the stream, so a client can switch between
    /// the two. Without `since`, it waits for events from now on. Pass `last_event_id` back
    /// as `since`; when `reset` is present, reload history first.
    #[oai(path = "/metrics/live", method = "get")]
    async fn poll(
        &self,
        auth: StreamAuth,
        /// The last event id received.
        since: Query<Option<String>>,
        /// How long to wait for an event: `25s` (default), `500ms`, up to `55s`.
        wait: Query<Option<String>>,
        /// Comma-separated metric names; default all.
        metrics: Query<Option<String>>,
        /// Comma-separated agent ids; default all.
        agent_id: Query<Option<String>>,
    ) -> PollResponse {
        let polled = async {
            let viewer = auth.viewer(&self.auth, &self.live).await?;
            let filter = LiveFilter::parse(metrics.0.as_deref(), agent_id.0.as_deref())?;
            let since = since
                .0
                .map(|s| {
                    s.trim().parse::<u64>().map_err(|_| invalid("since", format!("'{s}' is not an event id")))
                })
                .transpose()?;
            let wait = wait.0.as_deref().map(parse_wait).transpose()?.unwrap_or(DEFAULT_POLL_WAIT);
            Ok::<_, ApiError>(self.live.poll(&viewer, filter, since, wait).await?)
        };
        match polled.await {
            Ok(LivePoll { events, last_event_id, reset }) => PollResponse::Ok(Json(LivePollBody {
                events: events.iter().map(samples_body).collect(),
                last_event_id: last_event_id.to_string(),
                reset: reset.map(|r| reset_body(last_event_id, r)),
            })),
            Err(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_take_seconds_milliseconds_and_minutes() {
        assert_eq!(parse_wait("25s").unwrap(), Duration::from_secs(25));
        assert_eq!(parse_wait("25").unwrap(), Duration::from_secs(25));
        assert_eq!(parse_wait("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_wait("1m").unwrap(), Duration::from_secs(60));
        for bad in ["", "s", "3y", "-1s", "abc"] {
            assert!(parse_wait(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_unreadable_resume_point_counts_as_unknown() {
        assert_eq!(resume_point(" 42 "), 42);
        assert_eq!(resume_point("abc"), u64::MAX);
    }
}
