//! The ingest request body: read with a size limit (413 past it), gunzipped when sent with
//! `Content-Encoding: gzip` (the same limit applies to what it inflates to, so a small bomb
//! cannot fill the memory), documented as one sample object or an array of them, and parsed by
//! the domain's wire format so that every bad field of every item is reported.

use std::io::Read;

use bytes::Bytes;
use poem::http::{StatusCode, header};
use poem::{Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{Object, impl_apirequest_for_payload};

use crate::HttpOptions;

/// One sample as sent (documentation of the wire format; parsing is the domain's).
#[derive(Object)]
#[oai(rename = "Sample")]
#[allow(dead_code)]
pub(crate) struct SampleDoc {
    /// Metric name, `[A-Za-z_][A-Za-z0-9_.:-]{0,63}`. Alias: `name`.
    #[oai(validator(pattern = r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$"))]
    metric_name: String,
    /// The value; a finite number.
    value: f64,
    /// When it was measured: an RFC 3339 date-time (`2026-11-22T10:00:00Z`) or integer epoch
    /// milliseconds. Absent: the time the server received it. At most 10 minutes ahead of
    /// the server and not older than the tenant's longest retention. Alias: `ts`.
    timestamp: Option<serde_json::Value>,
    /// The host or device, 1 to 64 of `[A-Za-z0-9_.:-]`.
    #[oai(validator(max_length = 64))]
    agent_id: Option<String>,
    /// Further names of the series (`{"core": "0"}`): at most 16, keys 1 to 64 characters,
    /// string values up to 256.
    tags: Option<std::collections::BTreeMap<String, String>>,
    /// Makes re-sending safe: a sample whose `dedupe_id` this tenant sent before is stored once.
    /// 1 to 128 characters.
    #[oai(validator(max_length = 128))]
    dedupe_id: Option<String>,
}

/// The raw ingest body: one sample object or an array of up to the configured number of them.
pub(crate) struct IngestPayload(pub Bytes);

impl Payload for IngestPayload {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            one_of: vec![SampleDoc::schema_ref(), <Vec<SampleDoc> as Type>::schema_ref()],
            ..MetaSchema::ANY
        }))
    }

    fn register(registry: &mut Registry) {
        SampleDoc::register(registry);
    }
}

impl ParsePayload for IngestPayload {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let limit = request.data::<HttpOptions>().copied().unwrap_or_default().max_body_bytes;
        let encoding = request
            .headers()
            .get(header::CONTENT_ENCODING)
            .map(|value| value.to_str().unwrap_or("(not text)").trim().to_ascii_lowercase());
        let bytes = body.take()?.into_bytes_limit(limit).await?;
        match encoding.as_deref() {
            None | Some("" | "identity") => Ok(Self(bytes)),
            Some("gzip" | "x-gzip") => gunzip(&bytes, limit).map(Self),
            Some(other) => Err(poem::Error::from_string(
                format!("Content-Encoding '{other}' is not supported; send the body as is or with gzip"),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            )),
        }
    }
}

/// Inflates a gzip body, refusing one that inflates past `limit` bytes (413) or is not gzip
/// (400).
fn gunzip(compressed: &[u8], limit: usize) -> poem::Result<Bytes> {
    let mut inflated = Vec::with_capacity(compressed.len().saturating_mul(4).min(limit));
    let read =
        flate2::read::MultiGzDecoder::new(compressed).take(limit as u64 + 1).read_to_end(&mut inflated);
    match read {
        Err(e) => {
            Err(poem::Error::from_string(format!("the body is not valid gzip: {e}"), StatusCode::BAD_REQUEST))
        }
        Ok(n) if n > limit => Err(poem::Error::from_string(
            format!("the body inflates to more than {limit} bytes, the largest accepted"),
            StatusCode::PAYLOAD_TOO_LARGE,
        )),
        Ok(_) => Ok(Bytes::from(inflated)),
    }
}

impl_apirequest_for_payload!(IngestPayload);
