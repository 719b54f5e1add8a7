//! Sending the batches: `concurrency` workers over one keep-alive client, each building its own
//! bodies (so body building scales with the workers), paced in `--rate` mode, and retrying 429
//! and 503 after `Retry-After` so that nothing is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use super::plan::{BodyBuilder, Plan};
use super::query::{Counter, Probe};

/// Most visibility probes started per second: enough for stable percentiles, few enough that
/// the probes' queries do not become load of their own.
const MAX_PROBES_PER_SEC: f64 = 100.0;

/// Most visibility probes polling at once. Each polls back-to-back, so this bounds the query
/// load the probes add when visibility is slow (at 100 probes/s and 1 s to visible, unbounded
/// probes would be a hundred query loops); while visibility is fast, one is rarely exceeded.
pub(crate) const MAX_PROBES_IN_FLIGHT: usize = 4;

/// Connection failures tolerated in a row for one batch before the run stops. Resending is
/// safe: the samples keep their timestamps, so a copy replaces the original.
const MAX_TRANSPORT_RETRIES: u32 = 3;

/// Wait when a 429 or 503 has no usable `Retry-After`.
const DEFAULT_RETRY_WAIT: Duration = Duration::from_secs(1);

/// Shortest wait before a retry, so that `Retry-After: 0` cannot become a busy loop.
const MIN_RETRY_WAIT: Duration = Duration::from_millis(50);

/// How often progress is written to stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// What to send and how.
pub(crate) struct SendConfig {
    pub plan: Plan,
    /// `<url>/api/v1/metrics`.
    pub ingest_url: String,
    pub auth: HeaderValue,
    pub metric: String,
    pub dedupe: bool,
    pub concurrency: usize,
    /// Samples per second to hold; `None` sends as fast as possible.
    pub rate: Option<f64>,
    /// Stop starting batches after this long.
    pub duration: Option<Duration>,
    /// Visibility probing, in `--rate` mode.
    pub probing: Option<Probing>,
}

/// Which requests to probe for visibility, and with what.
pub(crate) struct Probing {
    pub counter: Counter,
    /// Probe one request in this many.
    pub every: u64,
    /// [`MAX_PROBES_IN_FLIGHT`] permits; a request due for a probe while none is free is
    /// counted in [`Progress::probes_skipped`] instead.
    pub slots: Arc<Semaphore>,
    /// How long a probe keeps polling.
    pub give_up: Duration,
}

/// Running totals, shared by the workers and the progress line.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub accepted: AtomicU64,
    pub requests: AtomicU64,
    pub retries_429: AtomicU64,
    pub retries_503: AtomicU64,
    pub transport_retries: AtomicU64,
    pub probes_skipped: AtomicU64,
}

/// What sending measured, beyond the [`Progress`] totals.
pub(crate) struct Sent {
    /// When the first batch could start.
    pub started: Instant,
    /// When the last 202 arrived.
    pub last_accepted: Option<Instant>,
    /// Send-to-reply time of every accepted request.
    pub replies: Vec<Duration>,
    /// The visibility probes, still running.
    pub probes: Vec<JoinHandle<Probe>>,
}

#[derive(Deserialize)]
struct AcceptedReply {
    accepted: u64,
}

/// Sends the plan (or as much as `--duration` allows).
///
/// # Errors
/// The first failure of any worker: server unreachable, token refused, a batch refused.
pub(crate) async fn send_all(
    cfg: Arc<SendConfig>,
    client: reqwest::Client,
    progress: Arc<Progress>,
) -> anyhow::Result<Sent> {
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..cfg.concurrency {
        let (cfg, client, progress, next) = (cfg.clone(), client.clone(), progress.clone(), next.clone());
        workers.spawn(work(cfg, client, progress, next, started));
    }
    let mut sent = Sent { started, last_accepted: None, replies: Vec::new(), probes: Vec::new() };
    while let Some(joined) = workers.join_next().await {
        match joined.context("a sending task panicked")? {
            Ok(done) => {
                sent.last_accepted = sent.last_accepted.max(done.last_accepted);
                sent.replies.extend(done.replies);
                sent.probes.extend(done.probes);
            }
            Err(error) => {
                workers.abort_all();
                return Err(error);
            }
        }
    }
    Ok(sent)
}

/// One worker: takes the next batch until the plan or the time is used up.
async fn work(
    cfg: Arc<SendConfig>,
    client: reqwest::Client,
    progress: Arc<Progress>,
    next: Arc<AtomicU64>,
    started: Instant,
) -> anyhow::Result<Sent> {
    let mut builder = BodyBuilder::new(&cfg.metric, cfg.plan.series(), cfg.dedupe);
    let mut out = Sent { started, last_accepted: None, replies: Vec::new(), probes: Vec::new() };
    let stop_at = cfg.duration.map(|d| started + d);
    loop {
        let j = next.fetch_add(1, Relaxed);
        if j >= cfg.plan.batches() {
            break;
        }
        let due = cfg.rate.map_or(started, |rate| started + due_offset(cfg.plan.samples_before(j), rate));
        if stop_at.is_some_and(|stop| due.max(Instant::now()) >= stop) {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let span = cfg.plan.batch(j);
        let body = builder.build(&cfg.plan, span);
        let (accepted_at, reply) = post(&cfg, &client, &progress, body).await?;
        out.last_accepted = Some(accepted_at);
        out.replies.push(reply);
        if let Some(probing) = &cfg.probing
            && j.is_multiple_of(probing.every)
        {
            match probing.slots.clone().try_acquire_owned() {
                Ok(permit) => {
                    let probe = probing.counter.clone().probe(span, accepted_at, probing.give_up);
                    out.probes.push(tokio::spawn(async move {
                        let _permit = permit;
                        probe.await
                    }));
                }
                Err(_) => {
                    progress.probes_skipped.fetch_add(1, Relaxed);
                }
            }
        }
    }
    Ok(out)
}

/// Posts one batch until it is accepted; returns when the 202 arrived and the reply time.
async fn post(
    cfg: &SendConfig,
    client: &reqwest::Client,
    progress: &Progress,
    body: Vec<u8>,
) -> anyhow::Result<(Instant, Duration)> {
    let mut failures = 0;
    loop {
        let sent = Instant::now();
        let request = client
            .post(&cfg.ingest_url)
            .header(AUTHORIZATION, cfg.auth.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone());
        let reply = match request.send().await {
            Ok(reply) => reply,
            Err(error) if failures < MAX_TRANSPORT_RETRIES => {
                failures += 1;
                progress.transport_retries.fetch_add(1, Relaxed);
                tracing::warn!(error = %error, attempt = failures, "Sending a batch failed; retrying.");
                tokio::time::sleep(MIN_RETRY_WAIT * 2u32.pow(failures)).await;
                continue;
            }
            Err(error) => {
                return Err(error).with_context(|| format!("cannot send to {}", cfg.ingest_url));
            }
        };
        progress.requests.fetch_add(1, Relaxed);
        match reply.status() {
            StatusCode::ACCEPTED => {
                let accepted: AcceptedReply = reply.json().await.context("unexpected reply to a push")?;
                let now = Instant::now();
                progress.accepted.fetch_add(accepted.accepted, Relaxed);
                return Ok((now, now - sent));
            }
            status @ (StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) => {
                let wait = retry_after(reply.headers());
                let counter = if status == StatusCode::TOO_MANY_REQUESTS {
                    &progress.retries_429
                } else {
                    &progress.retries_503
                };
                counter.fetch_add(1, Relaxed);
                // Reading the body lets the connection be reused.
                let _ = reply.bytes().await;
                tokio::time::sleep(wait).await;
            }
            StatusCode::UNAUTHORIZED => {
                let text = reply.text().await.unwrap_or_default();
                anyhow::bail!("the server refused the token (401 {text}); check --token or MICRODASH_TOKEN");
            }
            status => {
                let text = reply.text().await.unwrap_or_default();
                anyhow::bail!("the server refused a batch with {status}: {text}");
            }
        }
    }
}

/// The wait a 429 or 503 asks for, in whole seconds per `Retry-After`.
pub(crate) fn retry_after(headers: &HeaderMap) -> Duration {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_RETRY_WAIT, Duration::from_secs)
        .max(MIN_RETRY_WAIT)
}

/// When, after the start, the batch that follows `samples_before` samples is due at `rate`.
pub(crate) fn due_offset(samples_before: u64, rate: f64) -> Duration {
    Duration::from_secs_f64(samples_before as f64 / rate)
}

/// Probe one request in this many, so that at most [`MAX_PROBES_PER_SEC`] start each second.
pub(crate) fn probe_every(rate: f64, batch: usize) -> u64 {
    ((rate / batch as f64) / MAX_PROBES_PER_SEC).ceil().max(1.0) as u64
}

/// Writes `sent 400000/2000000 (200000/s), retries 0` to stderr every [`PROGRESS_EVERY`]
/// until aborted.
pub(crate) fn spawn_progress(progress: Arc<Progress>, total: u64) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        tick.tick().await;
        let mut before = (Instant::now(), 0);
        loop {
            tick.tick().await;
            let accepted = progress.accepted.load(Relaxed);
            let retries = progress.retries_429.load(Relaxed) + progress.retries_503.load(Relaxed);
            let rate = super::stats::per_second(accepted - before.1, before.0.elapsed());
            // Progress of a long command goes to stderr, so stdout keeps only the report.
            eprintln!("sent {accepted}/{total} ({rate:.0}/s), retries {retries}");
            before = (Instant::now(), accepted);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_due_when_the_samples_before_them_fit_the_rate() {
        assert_eq!(due_offset(0, 1000.0), Duration::ZERO);
        assert_eq!(due_offset(1000, 1000.0), Duration::from_secs(1));
        assert_eq!(due_offset(30_000, 1000.0), Duration::from_secs(30));
        assert_eq!(due_offset(500, 2000.0), Duration::from_millis(250));
    }

    #[test]
    fn slow_runs_probe_every_request_and_fast_runs_stay_under_a_hundred_probes_a_second() {
        assert_eq!(probe_every(1000.0, 1000), 1);
        assert_eq!(probe_every(2000.0, 1000), 1);
        assert_eq!(probe_every(100_000.0, 1000), 1);
        assert_eq!(probe_every(150_000.0, 1000), 2);
        assert_eq!(probe_every(2000.0, 1), 20);
    }

    #[test]
    fn retry_after_is_read_in_seconds_with_a_default_and_a_floor() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), DEFAULT_RETRY_WAIT);
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Duration::from_secs(3));
        h.insert(RETRY_AFTER, HeaderValue::from_static("0"));
        assert_eq!(retry_after(&h), MIN_RETRY_WAIT);
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), DEFAULT_RETRY_WAIT);
    }
}
