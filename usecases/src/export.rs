//! CSV export behind a signed, expiring link. `create` freezes a query (absolute range,
//! resolution chosen) into an [`ExportSpec`], signs it with the server secret and returns the
//! link; `open` checks signature and expiry and streams the CSV page by page, so memory stays
//! flat whatever the size of the export. The link needs no token: the signature is the
//! authorisation, and it only ever reads the tenant it was made for.

mod csv;

use std::collections::VecDeque;
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use microdash_domain::export::{ExportSpec, tags_json};
use microdash_domain::resolution::Requested;
use microdash_domain::rollup::rebucket;
use microdash_domain::{Resolution, Timestamp};

use crate::auth::Principal;
use crate::history_reader::HistoryReader;
use crate::ports::{ClockRef, RollupStoreRef, SeriesFilter, SeriesReaderRef, StoreError, StoredSeries};
use crate::query::{QueryError, QueryOptions, QueryParams, check};
use crate::signing::Signer;

/// Settings of exports.
#[derive(Debug, Clone, Copy)]
pub struct ExportOptions {
    /// How long a link works: long enough to start a download from another machine, short
    /// enough that a leaked link soon stops working.
    pub link_ttl: Duration,
    /// Rows read from the store and sent per chunk: large enough that each store read pays,
    /// small enough that memory stays at a few MB.
    pub rows_per_chunk: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self { link_ttl: Duration::from_secs(3600), rows_per_chunk: 10_000 }
    }
}

/// A signed link to an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportLink {
    /// The export id (the frozen query).
    pub id: String,
    /// Its signature.
    pub signature: String,
    /// When the link stops working.
    pub expires_at: Timestamp,
    /// The resolution of the rows.
    pub resolution: Resolution,
}

impl ExportLink {
    /// The path of the link, `/api/v1/exports/{id}?sig={signature}`.
    pub fn path(&self) -> String {
        format!("/api/v1/exports/{}?sig={}", self.id, self.signature)
    }
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A parameter of the export is wrong (or the store failed while checking it).
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The link was not signed by this server, or was changed.
    #[error("this export link is not valid; create a new one")]
    LinkInvalid,
    /// The link is past its expiry.
    #[error("this export link expired at {0}; create a new one")]
    LinkExpired(Timestamp),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An export ready to stream.
pub struct Export {
    /// A file name for the download.
    pub filename: String,
    /// The CSV, in chunks (the header row first).
    pub body: BoxStream<'static, Result<String, ExportError>>,
}

/// Creates and serves export links.
pub struct ExportService {
    history: HistoryReader,
    signer: Signer,
    clock: ClockRef,
    query_options: QueryOptions,
    options: ExportOptions,
}

impl ExportService {
    /// Builds the service; `signer` holds the secret every api node shares.
    pub fn new(
        series: SeriesReaderRef,
        rollups: RollupStoreRef,
        signer: Signer,
        clock: ClockRef,
        query_options: QueryOptions,
        options: ExportOptions,
    ) -> Self {
        Self { history: HistoryReader { series, rollups }, signer, clock, query_options, options }
    }

    /// Freezes a query into a signed link. `auto` picks the finest resolution still kept for
    /// the whole range (exports are not reduced, so the point budget does not apply).
    ///
    /// # Errors
    /// [`ExportError::Query`] naming the parameter at fault.
    #[tracing::instrument(name = "export.create", skip_all, fields(tenant = %who.tenant, metric = %params.name))]
    pub async fn create(&self, who: &Principal, params: QueryParams) -> Result<ExportLink, ExportError> {
        let invalid = |field, message: &str| QueryError::InvalidParameter { field, message: message.into() };
        if params.limit.is_some() {
            return Err(invalid("limit", "exports are not paged; drop limit").into());
        }
        if params.cursor.is_some() {
            return Err(invalid("cursor", "exports are not paged; drop cursor").into());
        }
        let now = self.clock.now();
        let q = check(params, now, &self.query_options)?;
        let resolution = match q.requested {
            Requested::Fixed(r) => r,
            Requested::Auto => Resolution::ALL
                .into_iter()
                .find(|r| r.covers(q.start, now, &who.retention))
                .unwrap_or(Resolution::FiveMinutes),
        };
        if q.merge && resolution == Resolution::Raw {
            return Err(invalid("group", "group=none exports need resolution 1m or 5m").into());
        }
        let expires_at =
            now.plus_millis(i64::try_from(self.options.link_ttl.as_millis()).unwrap_or(i64::MAX));
        let spec = ExportSpec {
            tenant: who.tenant,
            metric: q.filter.metric,
            agent: q.filter.agent,
            tags: q.filter.tags,
            start: q.start,
            end: q.end,
            resolution,
            merge: q.merge,
            expires_at,
        };
        let id = spec.encode();
        let signature = self.signer.sign(id.as_bytes());
        Ok(ExportLink { id, signature, expires_at, resolution })
    }

    /// Checks a link and starts its export.
    ///
    /// # Errors
    /// [`ExportError::LinkInvalid`] for a wrong signature or a changed id,
    /// [`ExportError::LinkExpired`] after its expiry, [`ExportError::Store`].
    #[tracing::instrument(name = "export.open", skip_all)]
    pub async fn open(&self, id: &str, signature: &str) -> Result<Export, ExportError> {
        if !self.signer.verify(id.as_bytes(), signature) {
            return Err(ExportError::LinkInvalid);
        }
        // Signed by us, so the id is what `create` encoded.
        let spec = ExportSpec::decode(id).map_err(|_| ExportError::LinkInvalid)?;
        if self.clock.now() > spec.expires_at {
            return Err(ExportError::LinkExpired(spec.expires_at));
        }
        let filter =
            SeriesFilter { metric: spec.metric.clone(), agent: spec.agent.clone(), tags: spec.tags.clone() };
        let series: VecDeque<StoredSeries> = self.history.series.series(spec.tenant, &filter).await?.into();
        tracing::info!(tenant = %spec.tenant, metric = %spec.metric, series = series.len(), resolution = %spec.resolution, "Export started.");
        let filename = format!("{}.csv", spec.metric);
        let header = if spec.resolution == Resolution::Raw { csv::RAW_HEADER } else { csv::BUCKET_HEADER };
        let rows = Rows {
            history: self.history.clone(),
            spec,
            series,
            raw_from: None,
            chunk: self.options.rows_per_chunk.max(1),
        };
        let body = stream::once(async move { Ok(header.to_owned()) })
            .chain(stream::try_unfold(rows, |mut rows| async move {
                let chunk = rows.next_chunk().await?;
                Ok(chunk.map(|c| (c, rows)))
            }))
            .boxed();
        Ok(Export { filename, body })
    }
}

/// Where a streaming export stands.
struct Rows {
    history: HistoryReader,
    spec: ExportSpec,
    /// Series not finished yet; the front one is in progress.
    series: VecDeque<StoredSeries>,
    /// Next raw time of the front series, once its first page was read.
    raw_from: Option<Timestamp>,
    chunk: usize,
}

impl Rows {
    /// The next chunk of rows; `None` when done.
    async fn next_chunk(&mut self) -> Result<Option<String>, ExportError> {
        let spec = &self.spec;
        let metric = spec.metric.as_str();
        if spec.merge {
            // Buckets of every series merged by start: as many as the range has, at most.
            let ids: Vec<_> = std::mem::take(&mut self.series).into_iter().map(|s| s.id).collect();
            let width = spec.resolution.bucket_ms().unwrap_or(1);
            let all = self.history.buckets(spec.tenant, spec.resolution, &ids, spec.start, spec.end).await?;
            let merged = rebucket(all.into_iter().flat_map(|(_, b)| b), width);
            if merged.is_empty() {
                return Ok(None);
            }
            let agent = spec.agent.as_ref().map_or("", |a| a.as_str());
            let prefix = csv::series_prefix(metric, agent, &tags_json(&spec.tags));
            let mut out = String::new();
            for (at, b) in &merged {
                csv::bucket_row(&mut out, &prefix, *at, b);
            }
            return Ok(Some(out));
        }
        while let Some(series) = self.series.front() {
            let agent = series.key.agent.as_ref().map_or("", |a| a.as_str());
            let prefix = csv::series_prefix(metric, agent, &tags_json(&series.key.tags));
            let id = series.id;
            let mut out = String::with_capacity(self.chunk * (prefix.len() + 40));
            if spec.resolution == Resolution::Raw {
                let from = self.raw_from.unwrap_or(spec.start);
                let page = self.history.raw(spec.tenant, &[id], from, spec.end, Some(self.chunk)).await?;
                let points = page.into_iter().next().map(|(_, p)| p).unwrap_or_default();
                for (at, value) in &points {
                    csv::raw_row(&mut out, &prefix, *at, *value);
                }
                match points.last() {
                    Some((last, _)) if points.len() == self.chunk => {
                        self.raw_from = Some(last.plus_millis(1))
                    }
                    _ => {
                        self.series.pop_front();
                        self.raw_from = None;
                    }
                }
            } else {
                let all =
                    self.history.buckets(spec.tenant, spec.resolution, &[id], spec.start, spec.end).await?;
                for (at, b) in all.iter().flat_map(|(_, b)| b) {
                    csv::bucket_row(&mut out, &prefix, *at, b);
                }
                self.series.pop_front();
            }
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
        Ok(None)
    }
}
