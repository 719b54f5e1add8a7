//! `microdash-loadgen`: pushes synthetic samples at a running server over HTTP and measures
//! what a client sees: accepted samples per second, reply times, how long until everything
//! sent is queryable, and (in `--rate` mode) the 202-to-queryable latency of single requests.
//! It talks only to the public API (and the `microdash-domain` wire rules), never to the
//! server's internals, so it measures any deployment. The `microdash-loadgen` binary is a thin
//! `main` over [`cli::Cli`] and [`run`]. Not part of the server: it is its own crate so that
//! the server's library does not carry its HTTP and MQTT clients.
//!
//! # Layout
//! - [`cli`]: the command line and logging set-up of the binary.
//! - `args`: the options and their validation.
//! - `plan`: which series and timestamp each sample gets; request bodies.
//! - `send`: the sending workers, pacing, retries, progress.
//! - `query`: counting what is queryable (pre-flight, visibility probes, drain).
//! - `stats`, `process`: percentiles; CPU and memory from `/proc`.
//! - `report`: the final report, as text or JSON.
//! - `sse`: the `--sse` mode: live streams open while samples go in; 202-to-event latency.
//! - `mqtt`: the `--mqtt` mode: QoS 1 publishers at the MQTT endpoint; PUBACK rate and latency.

mod args;
pub mod cli;
mod mqtt;
mod plan;
mod process;
mod query;
mod report;
mod send;
mod sse;
mod stats;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::header::HeaderValue;
use tokio::sync::Semaphore;

pub use self::args::LoadgenArgs;
use self::plan::Plan;
use self::query::{Count, Counter};
use self::report::{QueryableReport, Report, SentReport, ServerReport, VisibilityReport, secs};
use self::send::{Probing, Progress, SendConfig};
use self::stats::{Percentiles, per_second};

/// Longest wait for a reply before a request counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the load generator and prints its report.
///
/// # Errors
/// Invalid options; the server unreachable; the token refused; a batch refused; or accepted
/// samples still not queryable after `--drain-timeout` (the report is printed first).
pub async fn run(args: LoadgenArgs) -> anyhow::Result<()> {
    args.validate()?;
    if let Some(streams) = args.sse {
        return sse::run(&args, streams).await;
    }
    if args.mqtt.mqtt {
        return mqtt::run(&args).await;
    }
    let metric = args.metric_name();
    let plan =
        Plan::new(args.samples, args.batch as u64, args.series, chrono::Utc::now().timestamp_millis())?;
    let base = args.base_url();
    let auth = HeaderValue::try_from(format!("Bearer {}", args.token.expose()))
        .context("--token contains characters not allowed in an HTTP header")?;
    // Probes and the drain get their own connections, so they never queue behind batches.
    let counter = Counter::new(client(args.concurrency.max(8))?, base, &metric, auth.clone());
    let range = plan.range();

    // Pre-flight: fails fast and clearly when the server is down or the token is wrong.
    if let Count::Total(n) = counter.count(range.0, range.1).await?
        && n > 0
    {
        tracing::warn!(metric = %metric, points = n, "The metric already has points in this run's range; use a new --metric.");
    }
    let server_pid = args.server_pid.map(|pid| pid.to_string());
    let server_cpu_before = server_pid.as_deref().map(process::cpu_time).transpose()?;
    let own_cpu_before = process::cpu_time("self").ok();

    let probe_every = args.rate.map(|rate| send::probe_every(rate, args.batch));
    let cfg = Arc::new(SendConfig {
        plan,
        ingest_url: format!("{base}/api/v1/metrics"),
        auth,
        metric: metric.clone(),
        dedupe: args.dedupe,
        concurrency: args.concurrency,
        rate: args.rate,
        duration: args.duration,
        probing: probe_every.map(|every| Probing {
            counter: counter.clone(),
            every,
            slots: Arc::new(Semaphore::new(send::MAX_PROBES_IN_FLIGHT)),
            give_up: args.drain_timeout,
        }),
    });
    let progress = Arc::new(Progress::default());
    let printer = send::spawn_progress(progress.clone(), args.samples);
    let sent = send::send_all(cfg, client(args.concurrency)?, progress.clone()).await;
    printer.abort();
    let sent = sent?;

    let accepted = progress.accepted.load(Relaxed);
    let drain = counter.drain(range, accepted, args.drain_timeout).await?;
    let finished = drain.complete_at.unwrap_or_else(Instant::now);
    let mut probes = Vec::with_capacity(sent.probes.len());
    for probe in sent.probes {
        probes.push(probe.await.context("a visibility probe panicked")?);
    }

    let server = match (args.server_pid, server_pid.as_deref(), server_cpu_before) {
        (Some(pid), Some(id), Some(before)) => {
            let cpu = process::cpu_time(id)?.saturating_sub(before);
            let wall = finished - sent.started;
            let cores = if wall.is_zero() {
                0.0
            } else {
                (cpu.as_secs_f64() / wall.as_secs_f64() * 100.0).round() / 100.0
            };
            Some(ServerReport { pid, cpu_s: secs(cpu), cpu_cores: cores, memory: process::memory(id)? })
        }
        _ => None,
    };
    let last_accepted = sent.last_accepted.unwrap_or(sent.started);
    // In rate mode a batch stands for the samples of the time until the next one is due, so
    // the run lasts at least its schedule (30 batches of 1 s are 30 s, not 29).
    let schedule = args.rate.map_or(Duration::ZERO, |rate| send::due_offset(accepted, rate));
    let send_elapsed = (last_accepted - sent.started).max(schedule);
    let (retries_429, retries_503) = (progress.retries_429.load(Relaxed), progress.retries_503.load(Relaxed));
    let end_to_end = drain.complete_at.map(|at| (at - sent.started).max(schedule));
    let report = Report {
        url: base.to_owned(),
        metric,
        mode: if args.rate.is_some() { "rate" } else { "max" },
        target_rate: args.rate,
        planned_samples: args.samples,
        duration_limit_s: args.duration.map(|d| d.as_secs_f64()),
        batch: args.batch,
        concurrency: args.concurrency,
        series: args.series,
        dedupe: args.dedupe,
        sent: SentReport {
            accepted,
            requests: progress.requests.load(Relaxed),
            retries: retries_429 + retries_503,
            retries_429,
            retries_503,
            transport_retries: progress.transport_retries.load(Relaxed),
            elapsed_s: secs(send_elapsed),
            samples_per_s: per_second(accepted, send_elapsed),
            reply_ms: Percentiles::of(sent.replies),
        },
        queryable: QueryableReport {
            queryable: drain.seen,
            missing: accepted.saturating_sub(drain.seen),
            after_last_accept_ms: drain
                .complete_at
                .map(|at| stats::millis(at.saturating_duration_since(last_accepted))),
            last_poll_ms: stats::millis(drain.last_poll),
            end_to_end_s: end_to_end.map(secs),
            end_to_end_samples_per_s: end_to_end.map(|e2e| per_second(accepted, e2e)),
            timeout_s: args.drain_timeout.as_secs_f64(),
        },
        visibility: probe_every
            .map(|every| VisibilityReport::of(every, progress.probes_skipped.load(Relaxed), &probes)),
        server,
        loadgen_cpu_s: own_cpu_before.and_then(|before| Some(secs(process::cpu_time("self").ok()? - before))),
    };
    report.print(args.json)?;
    if report.queryable.missing > 0 {
        anyhow::bail!(
            "{} of {accepted} accepted samples were still not queryable {:?} after the last 202",
            report.queryable.missing,
            args.drain_timeout
        );
    }
    Ok(())
}

/// An HTTP/1.1 client keeping up to `connections` idle keep-alive connections.
fn client(connections: usize) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("cannot build the HTTP client")
}
