//! The one place where use-case outcomes become HTTP statuses and stable error `code`s.
//!
//! | code | status | when |
//! |---|---|---|
//! | `unauthorized` | 401 | no token, unknown or revoked token |
//! | `invalid_json` | 422 | the body is not JSON, or not an object/array of objects |
//! | `empty_batch` | 422 | an empty array |
//! | `invalid_samples` | 422 | items fail validation (`errors` lists them by index) |
//! | `too_many_items` | 413 | more items than allowed in one request |
//! | `payload_too_large` | 413 | body larger than allowed, or a batch larger than the quota |
//! | `unsupported_media_type` | 415 | the body is not `application/json` |
//! | `quota_exceeded` | 429 | the token's per-minute quota is used up (`Retry-After`) |
//! | `unavailable` | 503 | queue full or unreachable, store unreachable (`Retry-After`) |
//! | `invalid_parameter` | 400 | a query parameter is wrong (`errors[].field` names it) |
//! | `unknown_agent` | 404 | the tenant has no agent with this id |
//! | `invalid_link` | 403 | an export link that was changed or not made by this deployment |
//! | `link_expired` | 403 | a genuine export link past its expiry |
//! | `invalid_ticket` | 401 | a stream ticket that is malformed, altered or from another deployment |
//! | `ticket_expired` | 401 | a genuine stream ticket past its minute |
//! | `forbidden` | 403 | the credential belongs to another tenant than the one in the URL |
//! | `too_many_streams` | 429 | the live stream limit of the tenant or the server is reached (`Retry-After`) |
//! | `not_found` | 404 | no such route |
//! | `method_not_allowed` | 405 | wrong method for the route |
//! | `internal` | 500 | a bug; the log has the details under `request_id` |

use microdash_domain::ItemError;
use microdash_usecases::ports::StoreError;
use microdash_usecases::{
    AdmissionError, AuthError, ErrorChain, ExportError, IngestError, LiveError, ParseError, QueryError,
};
use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::Object;
use poem_openapi::error::{AuthorizationError, ContentTypeError, ParseParamError};

/// Every error reply.
#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    /// Stable machine-readable code (see the table in the API description).
    pub code: String,
    /// What went wrong and what to do, for humans.
    pub message: String,
    /// Per-item, per-field problems (invalid samples, invalid parameters).
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<FieldErrorBody>>,
    /// Id to quote when reporting a server-side problem; the log has the details under it.
    #[oai(skip_serializing_if_is_none)]
    pub request_id: Option<String>,
}

/// One problem with one field.
#[derive(Debug, Clone, Object)]
pub struct FieldErrorBody {
    /// Position of the item in the request (absent for query parameters).
    #[oai(skip_serializing_if_is_none)]
    pub index: Option<u64>,
    /// The field or parameter at fault.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// An error on its way out: status, body and, for 429/503, how long to wait.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        let body = ErrorBody { code: code.into(), message: message.into(), errors: None, request_id: None };
        Self { status, body, retry_after: None }
    }

    fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// A server-side failure: logged here, once, with its cause chain; the client gets only
    /// a request id to quote.
    fn server_side(
        status: StatusCode,
        code: &str,
        public: &str,
        error: &(dyn std::error::Error + 'static),
    ) -> Self {
        let request_id = uuid::Uuid::now_v7().to_string();
        tracing::error!(error = %ErrorChain(error), request_id = %request_id, "Request failed on the server side.");
        let mut e = Self::new(status, code, public);
        e.body.request_id = Some(request_id);
        e
    }

    /// No credential on a live endpoint, which also takes a stream ticket.
    pub(crate) fn missing_stream_credential() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing credential: pass `?ticket=` (from POST /api/v1/stream/tickets) or send \
             `Authorization: Bearer <token>` or `X-API-Token: <token>`",
        )
    }

    /// Maps poem's own extractor errors (missing token, wrong content type, bad parameter,
    /// body too large) to the same JSON shape.
    pub(crate) fn from_poem(e: poem::Error) -> Self {
        if e.is::<AuthorizationError>() {
            return Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing API token: send `Authorization: Bearer <token>` or `X-API-Token: <token>`",
            );
        }
        if e.is::<ContentTypeError>() {
            return Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("{e}; send the body as JSON with `Content-Type: application/json`"),
            );
        }
        if let Some(p) = e.downcast_ref::<ParseParamError>() {
            let mut err = Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", e.to_string());
            let field = FieldErrorBody { index: None, field: p.name.to_string(), message: p.reason.clone() };
            err.body.errors = Some(vec![field]);
            return err;
        }
        match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(e.status(), "payload_too_large", e.to_string()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Self::new(e.status(), "unsupported_media_type", e.to_string())
            }
            StatusCode::NOT_FOUND => {
                Self::new(e.status(), "not_found", "no such route; the API is described at /docs")
            }
            StatusCode::METHOD_NOT_ALLOWED => Self::new(e.status(), "method_not_allowed", e.to_string()),
            s if s.is_client_error() => Self::new(s, "bad_request", e.to_string()),
            _ => Self::server_side(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error", &e),
        }
    }
}

fn item_errors(errors: Vec<ItemError>) -> Vec<FieldErrorBody> {
    errors
        .into_iter()
        .map(|e| FieldErrorBody {
            index: Some(e.index as u64),
            field: e.field.to_string(),
            message: e.message,
        })
        .collect()
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Parse(e) => e.into(),
            IngestError::Admission(e) => e.into(),
        }
    }
}

impl From<ParseError> for ApiError {
    fn from(e: ParseError) -> Self {
        let message = e.to_string();
        match e {
            ParseError::Malformed(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_json", message),
            ParseError::Empty => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "empty_batch", message),
            ParseError::Invalid(errors) => {
                let mut err = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_samples", message);
                err.body.errors = Some(item_errors(errors));
                err
            }
            ParseError::TooManyItems { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_many_items", message)
            }
        }
    }
}

impl From<AdmissionError> for ApiError {
    fn from(e: AdmissionError) -> Self {
        match e {
            AdmissionError::BatchOverQuota { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", e.to_string())
            }
            AdmissionError::QuotaExceeded { retry_after, .. } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", e.to_string())
                    .retry_after(retry_after.as_secs_f64().ceil() as u64)
            }
            AdmissionError::Unavailable { retry_after, .. } => {
                // The client has always been told the causes (queue full, queue or limiter
                // unreachable) in the message; the log line names the same chain once.
                let chain = ErrorChain(&e);
                tracing::warn!(error = %chain, "Ingest refused with 503.");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    format!("{chain}; nothing was accepted, retry later"),
                )
                .retry_after(retry_after.as_secs_f64().ceil() as u64)
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidToken => Self::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string()),
            AuthError::Store(s) => Self::server_side(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the token store is unavailable; retry shortly",
                &s,
            )
            .retry_after(1),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::InvalidParameter { field, message } => {
                let mut err =
                    Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", format!("{field}: {message}"));
                err.body.errors = Some(vec![FieldErrorBody { index: None, field: field.into(), message }]);
                err
            }
            QueryError::UnknownAgent(id) => Self::new(
                StatusCode::NOT_FOUND,
                "unknown_agent",
                format!("no agent '{id}'; GET /api/v1/agents lists the agents"),
            ),
            QueryError::Store(s @ StoreError::Unavailable { .. }) => Self::server_side(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "storage is unavailable; retry shortly",
                &s,
            )
            .retry_after(1),
            QueryError::Store(s) => {
                Self::server_side(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error", &s)
            }
        }
    }
}

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        let message = e.to_string();
        match e {
            ExportError::Query(q) => q.into(),
            ExportError::LinkInvalid => Self::new(StatusCode::FORBIDDEN, "invalid_link", message),
            ExportError::LinkExpired(_) => Self::new(StatusCode::FORBIDDEN, "link_expired", message),
            ExportError::Store(s) => QueryError::Store(s).into(),
        }
    }
}

/// How long a client refused for too many streams should wait: streams end when viewers
/// leave, which takes seconds, not milliseconds.
const STREAM_LIMIT_RETRY_S: u64 = 5;

impl From<LiveError> for ApiError {
    fn from(e: LiveError) -> Self {
        let message = e.to_string();
        match e {
            LiveError::InvalidTicket => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_ticket",
                format!("{message}; get one from POST /api/v1/stream/tickets"),
            ),
            LiveError::TicketExpired => Self::new(
                StatusCode::UNAUTHORIZED,
                "ticket_expired",
                "the stream ticket has expired; get a new one from POST /api/v1/stream/tickets",
            ),
            LiveError::Forbidden { .. } => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            LiveError::TooManyStreams { .. } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_streams", message)
                    .retry_after(STREAM_LIMIT_RETRY_S)
            }
            LiveError::InvalidParameter { field, message } => {
                let mut err =
                    Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", format!("{field}: {message}"));
                err.body.errors = Some(vec![FieldErrorBody { index: None, field: field.into(), message }]);
                err
            }
            LiveError::ShuttingDown => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message).retry_after(1)
            }
            LiveError::Bus(bus) => Self::server_side(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "live updates are unavailable; retry shortly",
                &bus,
            )
            .retry_after(1),
        }
    }
}

/// Last resort for errors outside typed operations (unknown routes, wrong methods): the same
/// JSON body as everywhere else.
pub(crate) async fn catch_all(e: poem::Error) -> Response {
    let e = ApiError::from_poem(e);
    let mut resp = poem::web::Json(serde_json::json!({
        "code": e.body.code,
        "message": e.body.message,
        "request_id": e.body.request_id,
    }))
    .with_status(e.status)
    .into_response();
    if let Some(s) = e.retry_after {
        resp.headers_mut().insert("retry-after", s.into());
    }
    resp
}

/// Implements `From<ApiError>` and the `bad_request_handler` for an operation's response
/// enum, by status. Every enum has an `Internal` variant: a 500 (already logged where it was
/// made, see [`ApiError::server_side`]) goes there, and so does any status the enum does not
/// list, which is a bug in the operation's mapping and logged as one with [`unlisted_status`].
macro_rules! error_responses {
    ($ty:ident { $($status:literal => $variant:ident),* $(,)? } $(with_retry { $($rstatus:literal => $rvariant:ident),* $(,)? })?) => {
        impl From<$crate::error::ApiError> for $ty {
            fn from(e: $crate::error::ApiError) -> Self {
                use poem_openapi::payload::Json;
                match e.status.as_u16() {
                    $($status => $ty::$variant(Json(e.body)),)*
                    $($($rstatus => $ty::$rvariant(Json(e.body), e.retry_after.unwrap_or(1)),)*)?
                    500 => $ty::Internal(Json(e.body)),
                    _ => {
                        $crate::error::unlisted_status(stringify!($ty), &e);
                        $ty::Internal(Json(e.body))
                    }
                }
            }
        }

        impl $ty {
            pub(crate) fn bad_request(e: poem::Error) -> Self {
                $crate::error::ApiError::from_poem(e).into()
            }
        }
    };
}
pub(crate) use error_responses;

/// Logs an error whose status the operation's response enum does not list: the client gets a
/// 500 with the error's body, and this line is the only trace of what was meant.
pub(crate) fn unlisted_status(response: &'static str, e: &ApiError) {
    tracing::error!(
        response,
        status = e.status.as_u16(),
        code = %e.body.code,
        detail = %e.body.message,
        "An operation answered a status its response type does not list; sent 500 instead. Add the status to its `error_responses!`."
    );
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use poem_openapi::ApiResponse;
    use poem_openapi::payload::Json;

    use super::*;

    /// An operation's response type that lists only 401 (and the implicit 500).
    #[derive(ApiResponse)]
    #[oai(bad_request_handler = "ProbeResponse::bad_request")]
    enum ProbeResponse {
        /// Listed.
        #[oai(status = 401)]
        Unauthorized(Json<ErrorBody>),
        /// Anything else.
        #[oai(status = 500)]
        Internal(Json<ErrorBody>),
    }
    error_responses!(ProbeResponse { 401 => Unauthorized });

    /// Everything logged on this thread while `f` runs, without colours or timestamps.
    fn logs_of<T>(f: impl FnOnce() -> T) -> (T, String) {
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .without_time()
            .finish();
        let out = tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        (out, text)
    }

    #[test]
    fn a_status_the_operation_does_not_list_is_answered_500_and_logged_as_a_bug() {
        let forbidden = ApiError::new(StatusCode::FORBIDDEN, "forbidden", "not yours");

        let (response, logs) = logs_of(|| ProbeResponse::from(forbidden));

        let ProbeResponse::Internal(Json(body)) = response else { panic!("expected the 500 variant") };
        assert_eq!(
            (body.code.as_str(), body.message.as_str()),
            ("forbidden", "not yours"),
            "same body as before"
        );
        let line = logs
            .lines()
            .find(|l| l.contains("does not list"))
            .unwrap_or_else(|| panic!("not logged: {logs:?}"));
        assert!(line.contains("ERROR"), "{line}");
        for field in ["response=\"ProbeResponse\"", "status=403", "code=forbidden", "detail=not yours"] {
            assert!(line.contains(field), "{field} missing from {line}");
        }
    }

    #[test]
    fn a_listed_status_and_an_already_logged_500_add_no_log_line() {
        let (response, logs) = logs_of(|| {
            ProbeResponse::from(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "who are you"))
        });
        assert!(matches!(response, ProbeResponse::Unauthorized(_)));
        assert_eq!(logs, "");

        let cause = std::io::Error::other("disk gone");
        let (response, logs) = logs_of(|| {
            ProbeResponse::from(ApiError::server_side(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
                &cause,
            ))
        });
        assert!(matches!(response, ProbeResponse::Internal(_)));
        assert_eq!(logs.lines().count(), 1, "only the server-side line: {logs}");
        assert!(logs.contains("disk gone"), "{logs}");
    }

    #[test]
    fn a_server_side_failure_logs_every_cause_once_and_tells_the_client_none() {
        let store =
            StoreError::unavailable("reading tokens", std::io::Error::other("connection reset by 10.0.0.5"));

        let (error, logs) = logs_of(|| ApiError::from(AuthError::Store(store)));

        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!error.body.message.contains("10.0.0.5"), "internals are not leaked: {}", error.body.message);
        let request_id = error.body.request_id.expect("a request id to quote");
        assert_eq!(logs.lines().count(), 1, "{logs}");
        assert!(
            logs.contains("error=storage unavailable: reading tokens: connection reset by 10.0.0.5"),
            "the whole chain in the error field: {logs}"
        );
        assert!(logs.contains(&request_id), "{logs}");
    }
}
