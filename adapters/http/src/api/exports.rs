//! `/api/v1/exports`: CSV exports behind signed, expiring links that work without a token.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use microdash_usecases::query::QueryParams;
use microdash_usecases::{AuthService, ExportService};
use poem::Body;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::metrics::parse_time;
use crate::auth::TokenAuth;
use crate::error::{ApiError, ErrorBody, error_responses};

/// Exports endpoints.
pub struct ExportsApi {
    auth: Arc<AuthService>,
    export: Arc<ExportService>,
}

impl ExportsApi {
    /// Builds the API over its services.
    pub fn new(auth: Arc<AuthService>, export: Arc<ExportService>) -> Self {
        Self { auth, export }
    }
}

/// What to export: the parameters of a query.
#[derive(Object)]
struct ExportRequestBody {
    /// Metric name.
    name: String,
    /// Start of the range (inclusive), RFC 3339 or epoch milliseconds. Default: one hour
    /// before `end`.
    start: Option<String>,
    /// End of the range (inclusive). Default: now.
    end: Option<String>,
    /// Only this agent's series.
    agent_id: Option<String>,
    /// Only series carrying all these tags.
    tags: Option<BTreeMap<String, String>>,
    /// `auto` (default: the finest resolution still kept for the whole range), `raw`, `1m`
    /// or `5m`. Exports are never reduced.
    resolution: Option<String>,
    /// `series` (default) or `none` (all series merged; 1m and 5m only).
    group: Option<String>,
}

/// A signed link to the export.
#[derive(Object)]
struct ExportLinkBody {
    /// Path of the CSV download (`GET`, no token needed), relative to this server.
    url: String,
    /// When the link stops working, epoch milliseconds.
    expires_at: i64,
    /// The resolution of the rows: `raw`, `1m` or `5m`.
    resolution: String,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "CreateExportResponse::bad_request")]
enum CreateExportResponse {
    /// The link.
    #[oai(status = 201)]
    Created(Json<ExportLinkBody>),
    /// A parameter is wrong; `errors[].field` names it.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing, unknown or revoked token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Storage unavailable; retry shortly.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A bug; quote `request_id`.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
error_responses!(CreateExportResponse {
    400 => BadRequest, 401 => Unauthorized, 415 => UnsupportedMediaType,
} with_retry { 503 => Unavailable });

#[derive(ApiResponse)]
#[oai(bad_request_handler = "DownloadResponse::bad_request")]
enum DownloadResponse {
    /// The CSV (RFC 4180, header row first), streamed.
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Csv(Binary<Body>, #[oai(header = "Content-Disposition")] String),
    /// A parameter is missing.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The link was changed, not made by this deployment, or has expired.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// Storage unavailable; retry shortly.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A bug; quote `request_id`.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
error_responses!(DownloadResponse { 400 => BadRequest, 403 => Forbidden } with_retry { 503 => Unavailable });

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Exports")]
impl ExportsApi {
    /// Create a CSV export link
    ///
    /// Takes the parameters of a history query and returns a signed link to its CSV, valid for
    /// an hour. The link needs no token (hand it to a spreadsheet or `curl`) and reads only
    /// this tenant's data; a changed or expired link gets 403.
    #[oai(path = "/exports", method = "post")]
    async fn create(&self, auth: TokenAuth, body: Json<ExportRequestBody>) -> CreateExportResponse {
        let link = async {
            let who = auth.principal(&self.auth).await?;
            let b = body.0;
            let params = QueryParams {
                name: b.name,
                start: parse_time("start", b.start)?,
                end: parse_time("end", b.end)?,
                agent_id: b.agent_id,
                tags: b.tags.unwrap_or_default().into_iter().collect(),
                resolution: b.resolution,
                group: b.group,
                ..Default::default()
            };
            Ok::<_, ApiError>(self.export.create(&who, params).await?)
        };
        link.await.map_or_else(ApiError::into, |link| {
            CreateExportResponse::Created(Json(ExportLinkBody {
                url: link.path(),
                expires_at: link.expires_at.as_millis(),
                resolution: link.resolution.as_str().to_owned(),
            }))
        })
    }

    /// Download a CSV export
    ///
    /// Streams the CSV of a link made by `POST /api/v1/exports`: a header row, then one row per
    /// point (`metric,agent_id,tags,time,value`, or `...,time,avg,min,max,count` for buckets),
    /// series after series. No token: the signature is the authorisation.
    #[oai(path = "/exports/:id", method = "get")]
    async fn download(
        &self,
        /// The export id.
        id: Path<String>,
        /// The link's signature.
        sig: Query<String>,
    ) -> DownloadResponse {
        let export = match self.export.open(&id.0, &sig.0).await {
            Ok(export) => export,
            Err(e) => return ApiError::from(e).into(),
        };
        let disposition = format!("attachment; filename=\"{}\"", export.filename);
        let chunks = export.body.map(|chunk| {
            chunk.map(bytes::Bytes::from).map_err(|e| {
                // The status is sent already: all that is left is to cut the download short.
                tracing::error!(error = %e, "CSV export failed midway; the download is cut short.");
                std::io::Error::other(e)
            })
        });
        DownloadResponse::Csv(Binary(Body::from_bytes_stream(chunks)), disposition)
    }
}
