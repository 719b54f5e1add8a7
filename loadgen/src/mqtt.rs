//! `microdash-loadgen --mqtt`: `--mqtt-clients` connections publish single-sample messages at
//! QoS 1 to the MQTT device endpoint, each keeping `--mqtt-inflight` unacknowledged. Reports
//! the PUBACK rate and latency (at `--rate`, paced), how long until every acknowledged message
//! is queryable over HTTP (`--url`), and, with `--mqtt-idle-clients` and `--server-pid`, how
//! much the server's RSS grows with that many idle connections.
//!
//! # Layout
//! - this file: the options and the run.
//! - `client`: one connection on rumqttc's packet codec, publishing and timing PUBACKs.
//! - `report`: the report, as text or JSON.

mod client;
mod report;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::header::HeaderValue;
use tokio::task::JoinSet;

use self::client::{Job, Published};
use self::report::{IdleReport, MqttReport};
use super::LoadgenArgs;
use super::plan::Plan;
use super::process;
use super::query::Counter;
use super::stats::{Percentiles, per_second};

/// Connections opened at once while connecting many clients.
const CONNECT_CONCURRENCY: usize = 200;

/// Wait after connecting the idle clients before reading the server's RSS, so the
/// connections' buffers and tasks are all in place.
const SETTLE: Duration = Duration::from_secs(2);

/// Options of the MQTT mode.
#[derive(Debug, Clone, clap::Args)]
pub struct MqttArgs {
    /// Publish over MQTT instead of HTTP: one single-sample message per sample, QoS 1, to
    /// `metrics/{tenant}/loadgen-N/{metric}`. `--url` is still used to count what became
    /// queryable; `--batch` and `--concurrency` do not apply.
    #[arg(long)]
    pub mqtt: bool,

    /// The MQTT endpoint to publish to.
    #[arg(long, env = "MICRODASH_LOADGEN_MQTT_URL", default_value = "mqtt://127.0.0.1:1883")]
    pub mqtt_url: String,

    /// The tenant's slug: the MQTT user name (the password is `--token`).
    #[arg(long, env = "MICRODASH_LOADGEN_TENANT", default_value = "demo")]
    pub mqtt_tenant: String,

    /// Publishing connections.
    #[arg(long, default_value_t = 100)]
    pub mqtt_clients: usize,

    /// Unacknowledged messages each publishing connection keeps in flight.
    #[arg(long, default_value_t = 100)]
    pub mqtt_inflight: usize,

    /// Further connections that only stay connected (no keep-alive, nothing published); with
    /// `--server-pid`, the server's RSS is read before and after they connect.
    #[arg(long, default_value_t = 0)]
    pub mqtt_idle_clients: usize,
}

impl MqttArgs {
    /// The endpoint's address, from `mqtt://host:port`.
    ///
    /// # Errors
    /// Another scheme, or a host that does not resolve.
    fn addr(&self) -> anyhow::Result<SocketAddr> {
        let rest = self
            .mqtt_url
            .strip_prefix("mqtt://")
            .with_context(|| format!("--mqtt-url '{}' must start with mqtt://", self.mqtt_url))?;
        let rest = rest.trim_end_matches('/');
        let with_port = if rest.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
            rest.to_owned()
        } else {
            format!("{rest}:1883")
        };
        with_port
            .to_socket_addrs()
            .with_context(|| format!("--mqtt-url '{}' does not resolve", self.mqtt_url))?
            .next()
            .with_context(|| format!("--mqtt-url '{}' does not resolve", self.mqtt_url))
    }
}

/// Runs the MQTT load and prints its report.
///
/// # Errors
/// Invalid options; the endpoint unreachable or refusing the credentials; a connection lost;
/// or acknowledged messages still not queryable after `--drain-timeout`.
pub(crate) async fn run(args: &LoadgenArgs) -> anyhow::Result<()> {
    let m = &args.mqtt;
    anyhow::ensure!(m.mqtt_clients > 0, "--mqtt-clients must be at least 1");
    anyhow::ensure!((1..=60_000).contains(&m.mqtt_inflight), "--mqtt-inflight must be between 1 and 60000");
    let addr = m.addr()?;
    let metric = args.metric_name();
    let plan = Plan::new(args.samples, 1, args.series, chrono::Utc::now().timestamp_millis())?;
    let base = args.base_url();
    let auth = HeaderValue::try_from(format!("Bearer {}", args.token.expose()))
        .context("--token contains characters not allowed in an HTTP header")?;
    let http = reqwest::Client::builder().build().context("cannot build the HTTP client")?;
    let counter = Counter::new(http, base, &metric, auth);
    let range = plan.range();
    counter.count(range.0, range.1).await?; // fails fast when the HTTP side or the token is wrong
    let token = args.token.expose().to_owned();
    let server = args.server_pid.map(|pid| pid.to_string());

    // Held open, idle, until the run ends: the server keeps them while the load runs.
    let (idle, _idle_connections) = match m.mqtt_idle_clients {
        0 => (None, Vec::new()),
        n => {
            let (report, held) = connect_idle(addr, &m.mqtt_tenant, &token, n, server.as_deref()).await?;
            (Some(report), held)
        }
    };

    let job = Arc::new(Job {
        topics: (0..args.series).map(|s| format!("metrics/{}/loadgen-{s}/{metric}", m.mqtt_tenant)).collect(),
        plan,
        inflight: m.mqtt_inflight,
        rate: args.rate,
        duration: args.duration,
        next: AtomicU64::new(0),
        acked: AtomicU64::new(0),
    });
    let mut streams = Vec::with_capacity(m.mqtt_clients);
    for i in 0..m.mqtt_clients {
        streams.push(client::connect(addr, &format!("loadgen-pub-{i}"), &m.mqtt_tenant, &token, 60).await?);
    }
    let cpu_before = server.as_deref().map(process::cpu_time).transpose()?;
    let own_cpu_before = process::cpu_time("self").ok();
    let started = Instant::now();
    let progress = spawn_progress(job.clone(), args.samples);
    let mut publishers = JoinSet::new();
    for stream in streams {
        publishers.spawn(client::publish(stream, job.clone(), started));
    }
    let mut done = Published { acked: 0, latencies: Vec::new(), last_ack: None };
    while let Some(joined) = publishers.join_next().await {
        let published = joined.context("a publisher panicked")?.context("a publishing connection failed")?;
        done.acked += published.acked;
        done.latencies.extend(published.latencies);
        done.last_ack = done.last_ack.max(published.last_ack);
    }
    progress.abort();
    let last_ack = done.last_ack.unwrap_or(started);
    let drain = counter.drain(range, done.acked, args.drain_timeout).await?;
    let server_report = match (&server, cpu_before) {
        (Some(pid), Some(before)) => {
            let wall = drain.complete_at.unwrap_or_else(Instant::now) - started;
            Some(report::ServerReport::measure(pid, before, wall)?)
        }
        _ => None,
    };
    let schedule = args.rate.map_or(Duration::ZERO, |rate| Duration::from_secs_f64(done.acked as f64 / rate));
    let send_elapsed = (last_ack - started).max(schedule);
    let end_to_end = drain.complete_at.map(|at| (at - started).max(schedule));
    let report = MqttReport {
        url: m.mqtt_url.clone(),
        metric,
        mode: if args.rate.is_some() { "rate" } else { "max" },
        target_rate: args.rate,
        clients: m.mqtt_clients,
        inflight: m.mqtt_inflight,
        acknowledged: done.acked,
        elapsed_s: send_elapsed.as_secs_f64(),
        acknowledged_per_s: per_second(done.acked, send_elapsed),
        puback_ms: Percentiles::of(done.latencies),
        queryable: drain.seen,
        missing: done.acked.saturating_sub(drain.seen),
        queryable_after_last_ack_ms: drain
            .complete_at
            .map(|at| super::stats::millis(at.saturating_duration_since(last_ack))),
        end_to_end_s: end_to_end.map(|d| d.as_secs_f64()),
        queryable_per_s: end_to_end.map(|d| per_second(done.acked, d)),
        idle,
        server: server_report,
        loadgen_cpu_s: own_cpu_before
            .and_then(|before| Some((process::cpu_time("self").ok()? - before).as_secs_f64())),
    };
    report.print(args.json)?;
    anyhow::ensure!(
        report.missing == 0,
        "{} of {} acknowledged messages were still not queryable {:?} after the last PUBACK",
        report.missing,
        done.acked,
        args.drain_timeout
    );
    Ok(())
}

/// Connects `n` clients that stay idle, and measures the server's RSS before and after.
async fn connect_idle(
    addr: SocketAddr,
    tenant: &str,
    token: &str,
    n: usize,
    server: Option<&str>,
) -> anyhow::Result<(IdleReport, Vec<tokio::net::TcpStream>)> {
    let before = server.map(process::memory).transpose()?;
    let started = Instant::now();
    let mut held = Vec::with_capacity(n);
    let mut connecting = JoinSet::new();
    for i in 0..n {
        if connecting.len() >= CONNECT_CONCURRENCY
            && let Some(joined) = connecting.join_next().await
        {
            held.push(joined.context("a connecting task panicked")??);
        }
        let (tenant, token) = (tenant.to_owned(), token.to_owned());
        connecting.spawn(async move {
            client::connect(addr, &format!("loadgen-idle-{i}"), &tenant, &token, 0).await
        });
    }
    while let Some(joined) = connecting.join_next().await {
        held.push(joined.context("a connecting task panicked")??);
    }
    let connect_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let after = server.map(process::memory).transpose()?;
    Ok((IdleReport::new(n, connect_s, before, after), held))
}

/// Writes the acknowledged count and rate to stderr every two seconds until aborted.
fn spawn_progress(job: Arc<Job>, total: u64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.tick().await;
        let mut before = (Instant::now(), 0);
        loop {
            tick.tick().await;
            let acked = job.acked.load(Relaxed);
            let rate = per_second(acked - before.1, before.0.elapsed());
            eprintln!("acknowledged {acked}/{total} ({rate:.0}/s)");
            before = (Instant::now(), acked);
        }
    })
}
