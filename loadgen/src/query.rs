//! Counting what is queryable: the pre-flight check, the visibility probes and the final drain.
//! Every count is one `GET /api/v1/metrics/query?limit=1` read for its `total`, so counting a
//! million points costs the server a count, not a million-point reply.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::Deserialize;

use super::plan::BatchSpan;

/// Bounds of the pause between drain polls. The pause is as long as the last poll took: a
/// count over millions of points is heavy enough that polling back-to-back would slow the
/// writes it waits for, while small counts are cheap and can be timed closely.
const DRAIN_POLL: (Duration, Duration) = (Duration::from_millis(5), Duration::from_millis(50));

/// How often the drain reports its progress on stderr.
const DRAIN_PROGRESS: Duration = Duration::from_secs(2);

/// Counts the run's points over a range of timestamps.
#[derive(Clone)]
pub(crate) struct Counter {
    client: reqwest::Client,
    /// `<url>/api/v1/metrics/query?name=<metric>&limit=1`. Metric names are limited to
    /// `[A-Za-z0-9_.:-]`, so they need no escaping (and this reqwest build has no `query()`).
    prefix: String,
    base_url: String,
    auth: HeaderValue,
}

/// A count, or the server asking to come back later.
pub(crate) enum Count {
    Total(u64),
    Busy(Duration),
}

/// What a visibility probe found.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Probe {
    /// Seen: time from the 202 to the reply of the first poll that saw the whole batch, and
    /// that poll's round trip (so readers can tell how much of the latency is the query).
    Visible { latency: Duration, poll: Duration },
    /// Still not (fully) queryable when the probe gave up.
    NotVisible,
    /// A poll failed; the reason goes to the log.
    Failed,
}

/// How the final drain ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Drain {
    /// Points seen by the last poll.
    pub seen: u64,
    /// Reply time of the first poll that saw them all; `None` when the timeout came first.
    pub complete_at: Option<Instant>,
    /// Round trip of the last poll: how much of the drain time may be the count itself.
    pub last_poll: Duration,
}

#[derive(Deserialize)]
struct QueryReply {
    total: u64,
}

impl Counter {
    pub(crate) fn new(client: reqwest::Client, base_url: &str, metric: &str, auth: HeaderValue) -> Self {
        let prefix = format!("{base_url}/api/v1/metrics/query?name={metric}&limit=1");
        Self { client, prefix, base_url: base_url.to_owned(), auth }
    }

    /// Points of the metric with timestamps in `start..=end`.
    ///
    /// # Errors
    /// The server cannot be reached, refuses the token, or answers anything but 200 or 503.
    pub(crate) async fn count(&self, start: i64, end: i64) -> anyhow::Result<Count> {
        let url = format!("{}&start={start}&end={end}", self.prefix);
        let reply = self
            .client
            .get(&url)
            .header(AUTHORIZATION, self.auth.clone())
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base_url))?;
        match reply.status() {
            StatusCode::OK => {
                let body: QueryReply = reply.json().await.context("unexpected reply to a query")?;
                Ok(Count::Total(body.total))
            }
            StatusCode::SERVICE_UNAVAILABLE => Ok(Count::Busy(super::send::retry_after(reply.headers()))),
            StatusCode::UNAUTHORIZED => {
                let body = reply.text().await.unwrap_or_default();
                anyhow::bail!("the server refused the token (401 {body}); check --token or MICRODASH_TOKEN")
            }
            status => {
                let body = reply.text().await.unwrap_or_default();
                anyhow::bail!("the query {url} failed with {status}: {body}")
            }
        }
    }

    /// Polls back-to-back until the whole of `span` is queryable, or `give_up` after the 202.
    pub(crate) async fn probe(self, span: BatchSpan, accepted_at: Instant, give_up: Duration) -> Probe {
        while accepted_at.elapsed() < give_up {
            let sent = Instant::now();
            match self.count(span.start_ms, span.end_ms).await {
                Ok(Count::Total(n)) if n >= span.len => {
                    let now = Instant::now();
                    return Probe::Visible { latency: now - accepted_at, poll: now - sent };
                }
                Ok(Count::Total(_)) => {}
                Ok(Count::Busy(wait)) => tokio::time::sleep(wait.min(DRAIN_POLL.1)).await,
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "Visibility probe failed.");
                    return Probe::Failed;
                }
            }
        }
        Probe::NotVisible
    }

    /// Polls (see [`DRAIN_POLL`]) until `expected` points are queryable in `range`, or
    /// `timeout` has passed.
    ///
    /// # Errors
    /// When a poll fails (see [`Counter::count`]).
    pub(crate) async fn drain(
        &self,
        range: (i64, i64),
        expected: u64,
        timeout: Duration,
    ) -> anyhow::Result<Drain> {
        let started = Instant::now();
        let mut last_progress = started;
        let mut seen = 0;
        loop {
            let sent = Instant::now();
            let count = self.count(range.0, range.1).await?;
            let (now, last_poll) = (Instant::now(), sent.elapsed());
            match count {
                Count::Total(n) if n >= expected => {
                    return Ok(Drain { seen: n, complete_at: Some(now), last_poll });
                }
                Count::Total(n) => seen = n,
                Count::Busy(wait) => tokio::time::sleep(wait).await,
            }
            if started.elapsed() >= timeout {
                return Ok(Drain { seen, complete_at: None, last_poll });
            }
            if last_progress.elapsed() >= DRAIN_PROGRESS {
                // Progress of a long command goes to stderr, so stdout keeps only the report.
                eprintln!("queryable {seen}/{expected}, waiting ({:.0} s)", started.elapsed().as_secs_f64());
                last_progress = Instant::now();
            }
            tokio::time::sleep(last_poll.clamp(DRAIN_POLL.0, DRAIN_POLL.1)).await;
        }
    }
}
