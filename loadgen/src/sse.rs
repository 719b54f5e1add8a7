//! `microdash-loadgen --sse N`: N live streams (`GET /api/v1/stream/{tenant}`, opened with
//! stream tickets the way a browser does) stay connected while single-sample requests go in at
//! `--rate` for `--duration`. Each sample carries its sequence number as its value, so every
//! stream can tell which sample arrived when; the report gives the time from each 202 (and
//! from each send) to the sample's arrival on every stream, what was lost, and, with
//! `--server-pid`, the server's memory before and with the streams open and idle.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::LoadgenArgs;
use super::process::{self, Memory};
use super::stats::Percentiles;

/// Rate when `--rate` is not given: the issue's benchmark.
const DEFAULT_RATE: f64 = 1_000.0;
/// Sending time when `--duration` is not given.
const DEFAULT_DURATION: Duration = Duration::from_secs(30);
/// Streams being opened at once: fast, without a connection storm.
const OPENING_AT_ONCE: usize = 50;
/// Pause after the last stream opened before the idle memory is read, so that the server's
/// per-connection buffers have settled.
const SETTLE: Duration = Duration::from_secs(2);
/// Requests in flight at once while sending (at least; `--concurrency` may raise it).
const MIN_SENDERS: usize = 16;
/// How long the streams may take, after the last 202, to deliver the last samples.
const DELIVERY_GRACE: Duration = Duration::from_secs(10);

/// Microseconds since the run started, of each sample's send and 202; 0 = not yet.
struct Timeline {
    start: Instant,
    sent: Vec<AtomicU64>,
    accepted: Vec<AtomicU64>,
}

impl Timeline {
    fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.start).as_micros()).unwrap_or(u64::MAX).max(1)
    }
}

/// What one stream saw: (sequence number, microseconds since the start) per sample, and resets.
#[derive(Default)]
struct Seen {
    arrivals: Vec<(u32, u64)>,
    resets: u64,
    ended_early: bool,
}

#[derive(Deserialize)]
struct TicketReply {
    ticket: String,
    tenant: String,
}

#[derive(Deserialize)]
struct EventData {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    samples: Vec<SampleData>,
}

#[derive(Deserialize)]
struct SampleData {
    value: f64,
}

/// The report of an `--sse` run.
#[derive(Serialize)]
struct SseReport {
    url: String,
    metric: String,
    streams: usize,
    target_rate: f64,
    duration_s: f64,
    sent: u64,
    accepted: u64,
    expected_deliveries: u64,
    delivered: u64,
    missing: u64,
    resets: u64,
    streams_ended_early: u64,
    /// From the 202 to the arrival on a stream; an arrival before the 202 counts as 0.
    accepted_to_event_ms: Option<Percentiles>,
    /// Arrivals that came before the client had read the 202.
    arrived_before_202: u64,
    /// From sending the request to the arrival on a stream.
    sent_to_event_ms: Option<Percentiles>,
    server: Option<ServerMemory>,
}

#[derive(Serialize)]
struct ServerMemory {
    pid: u32,
    before_streams: Memory,
    with_idle_streams: Memory,
    at_end: Memory,
    extra_rss_idle_streams_kib: i64,
    /// CPU the server used while the samples went in and out, in cores.
    cpu_cores_while_sending: f64,
}

/// Runs the `--sse` mode and prints its report.
///
/// # Errors
/// The server unreachable, the token refused, a stream refused, or samples that never arrived.
pub(crate) async fn run(args: &LoadgenArgs, streams: usize) -> anyhow::Result<()> {
    let base = args.base_url().to_owned();
    let metric = args.metric_name();
    let rate = args.rate.unwrap_or(DEFAULT_RATE);
    let duration = args.duration.unwrap_or(DEFAULT_DURATION);
    let total = ((rate * duration.as_secs_f64()).round() as u64).max(1);
    let total_u32 =
        u32::try_from(total).context("--rate times --duration must stay below 4 billion samples")?;
    let auth = HeaderValue::try_from(format!("Bearer {}", args.token.expose()))
        .context("--token contains characters not allowed in an HTTP header")?;
    // Streams must not time out; requests get the usual limits.
    let stream_client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .build()
        .context("cannot build the HTTP client")?;
    let senders = args.concurrency.max(MIN_SENDERS);
    let client = super::client(senders)?;

    let pid = args.server_pid.map(|p| p.to_string());
    let before = pid.as_deref().map(process::memory).transpose()?;
    let timeline = Arc::new(Timeline {
        start: Instant::now(),
        sent: (0..total).map(|_| AtomicU64::new(0)).collect(),
        accepted: (0..total).map(|_| AtomicU64::new(0)).collect(),
    });
    let received = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = watch::channel(false);
    eprintln!("opening {streams} streams on {base}");
    let mut readers = JoinSet::new();
    let opening = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    for _ in 0..streams {
        let permit = opening.clone().acquire_owned().await?;
        let ticket = ticket(&client, &base, &auth).await?;
        let url = format!("{base}/api/v1/stream/{}?metrics={metric}&ticket={}", ticket.tenant, ticket.ticket);
        let (stream_client, timeline, received, connected, stopped) =
            (stream_client.clone(), timeline.clone(), received.clone(), connected.clone(), stopped.clone());
        readers.spawn(async move {
            let response = stream_client.get(&url).send().await;
            drop(permit);
            read_stream(response, &timeline, &received, &connected, stopped).await
        });
    }
    while connected.load(Relaxed) < streams {
        if let Some(failed) = readers.try_join_next() {
            failed.context("a stream reader panicked")??;
            anyhow::bail!("a stream ended before the run started");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(SETTLE).await;
    let idle = pid.as_deref().map(process::memory).transpose()?;
    eprintln!("{streams} streams open; sending {total} samples at {rate}/s");
    let cpu_before = pid.as_deref().map(process::cpu_time).transpose()?;
    let sending = Instant::now();

    let accepted = send(&client, &base, &auth, &metric, rate, total_u32, &timeline, senders).await?;
    let expected = accepted * streams as u64;
    let deadline = Instant::now() + DELIVERY_GRACE;
    while received.load(Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at_end = pid.as_deref().map(process::memory).transpose()?;
    let cpu_cores = match (pid.as_deref(), cpu_before) {
        (Some(pid), Some(before)) => {
            let used = process::cpu_time(pid)?.saturating_sub(before);
            (used.as_secs_f64() / sending.elapsed().as_secs_f64() * 100.0).round() / 100.0
        }
        _ => 0.0,
    };
    stop.send_replace(true);
    let mut seen = Vec::with_capacity(streams);
    while let Some(reader) = readers.join_next().await {
        seen.push(reader.context("a stream reader panicked")??);
    }
    let report =
        summarise(&base, metric, streams, rate, duration, &timeline, accepted, seen, received.load(Relaxed));
    let report = SseReport {
        server: match (args.server_pid, before, idle, at_end) {
            (Some(pid), Some(b), Some(i), Some(e)) => Some(ServerMemory {
                pid,
                before_streams: b,
                with_idle_streams: i,
                at_end: e,
                extra_rss_idle_streams_kib: i.rss_kib as i64 - b.rss_kib as i64,
                cpu_cores_while_sending: cpu_cores,
            }),
            _ => None,
        },
        ..report
    };
    print(&report, args.json)?;
    if report.missing > 0 {
        anyhow::bail!("{} of {expected} deliveries never arrived", report.missing);
    }
    Ok(())
}

async fn ticket(client: &reqwest::Client, base: &str, auth: &HeaderValue) -> anyhow::Result<TicketReply> {
    let reply = client
        .post(format!("{base}/api/v1/stream/tickets"))
        .header(AUTHORIZATION, auth.clone())
        .send()
        .await
        .with_context(|| format!("cannot reach the server at {base}"))?;
    match reply.status() {
        StatusCode::CREATED => Ok(reply.json().await.context("unexpected reply to a ticket request")?),
        status => {
            let body = reply.text().await.unwrap_or_default();
            anyhow::bail!("a stream ticket was refused with {status}: {body}")
        }
    }
}

/// Reads one stream until it ends or the run stops, timing every sample's arrival.
async fn read_stream(
    response: reqwest::Result<reqwest::Response>,
    timeline: &Timeline,
    received: &AtomicU64,
    connected: &AtomicUsize,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Seen> {
    let mut response = response.context("cannot open a stream")?;
    if response.status() != StatusCode::OK {
        let status = response.status();
        anyhow::bail!("a stream was refused with {status}: {}", response.text().await.unwrap_or_default());
    }
    connected.fetch_add(1, Relaxed);
    let mut seen = Seen::default();
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk.context("a stream broke")?,
            _ = stop.wait_for(|stop| *stop) => return Ok(seen),
        };
        let Some(chunk) = chunk else { break };
        let at = timeline.micros(Instant::now());
        buffer.extend_from_slice(&chunk);
        for event in complete_events(&mut buffer)? {
            match event.kind.as_str() {
                "samples" => {
                    received.fetch_add(event.samples.len() as u64, Relaxed);
                    seen.arrivals.extend(event.samples.iter().map(|s| (s.value as u32, at)));
                }
                _ => seen.resets += 1,
            }
        }
    }
    seen.ended_early = true;
    Ok(seen)
}

/// Takes the complete events (ending in a blank line) out of `buffer`, leaving a partial one;
/// comment lines (heartbeats) are skipped.
fn complete_events(buffer: &mut Vec<u8>) -> anyhow::Result<Vec<EventData>> {
    let mut events = Vec::new();
    while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
        let frame: Vec<u8> = buffer.drain(..end + 2).collect();
        for line in frame.split(|&b| b == b'\n') {
            if let Some(data) = line.strip_prefix(b"data: ") {
                events.push(serde_json::from_slice(data).context("an event that is not JSON")?);
            }
        }
    }
    Ok(events)
}

#[allow(clippy::too_many_arguments)]
async fn send(
    client: &reqwest::Client,
    base: &str,
    auth: &HeaderValue,
    metric: &str,
    rate: f64,
    total: u32,
    timeline: &Arc<Timeline>,
    senders: usize,
) -> anyhow::Result<u64> {
    let url = Arc::new(format!("{base}/api/v1/metrics"));
    let slots = Arc::new(Semaphore::new(senders));
    let accepted = Arc::new(AtomicU64::new(0));
    let run_ms = chrono::Utc::now().timestamp_millis();
    let started = Instant::now();
    let mut requests = JoinSet::new();
    for seq in 0..total {
        let due = started + Duration::from_secs_f64(f64::from(seq) / rate);
        tokio::time::sleep_until(due.into()).await;
        let slot = slots.clone().acquire_owned().await?;
        // The value is the sequence number; one agent per 100 samples keeps series small, and
        // distinct timestamps keep every sample its own point.
        let body = format!(
            r#"{{"metric_name":"{metric}","value":{seq},"agent_id":"loadgen-{}","timestamp":{}}}"#,
            seq % 100,
            run_ms + i64::from(seq)
        );
        let (client, url, auth, timeline, accepted) =
            (client.clone(), url.clone(), auth.clone(), timeline.clone(), accepted.clone());
        requests.spawn(async move {
            let i = seq as usize;
            timeline.sent[i].store(timeline.micros(Instant::now()), Relaxed);
            let reply = client
                .post(url.as_str())
                .header(AUTHORIZATION, auth)
                .header(CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await
                .context("a request failed")?;
            let at = timeline.micros(Instant::now());
            drop(slot);
            if reply.status() != StatusCode::ACCEPTED {
                let status = reply.status();
                anyhow::bail!(
                    "a sample was refused with {status}: {}",
                    reply.text().await.unwrap_or_default()
                );
            }
            timeline.accepted[i].store(at, Relaxed);
            accepted.fetch_add(1, Relaxed);
            Ok(())
        });
        while let Some(done) = requests.try_join_next() {
            done.context("a sender panicked")??;
        }
    }
    while let Some(done) = requests.join_next().await {
        done.context("a sender panicked")??;
    }
    Ok(accepted.load(Relaxed))
}

#[allow(clippy::too_many_arguments)]
fn summarise(
    base: &str,
    metric: String,
    streams: usize,
    rate: f64,
    duration: Duration,
    timeline: &Timeline,
    accepted: u64,
    seen: Vec<Seen>,
    delivered: u64,
) -> SseReport {
    let mut from_202 = Vec::new();
    let mut from_send = Vec::new();
    let mut before_202 = 0;
    let (mut resets, mut ended) = (0, 0);
    for s in &seen {
        resets += s.resets;
        ended += u64::from(s.ended_early);
        for &(seq, at) in &s.arrivals {
            let Some(i) = usize::try_from(seq).ok().filter(|&i| i < timeline.sent.len()) else { continue };
            let (sent, ok) = (timeline.sent[i].load(Relaxed), timeline.accepted[i].load(Relaxed));
            if ok == 0 {
                continue;
            }
            from_send.push(Duration::from_micros(at.saturating_sub(sent)));
            if at < ok {
                before_202 += 1;
            }
            from_202.push(Duration::from_micros(at.saturating_sub(ok)));
        }
    }
    let expected = accepted * streams as u64;
    SseReport {
        url: base.to_owned(),
        metric,
        streams,
        target_rate: rate,
        duration_s: duration.as_secs_f64(),
        sent: timeline.sent.iter().filter(|s| s.load(Relaxed) > 0).count() as u64,
        accepted,
        expected_deliveries: expected,
        delivered,
        missing: expected.saturating_sub(delivered),
        resets,
        streams_ended_early: ended,
        accepted_to_event_ms: Percentiles::of(from_202),
        arrived_before_202: before_202,
        sent_to_event_ms: Percentiles::of(from_send),
        server: None,
    }
}

#[allow(clippy::print_stdout)]
fn print(report: &SseReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    let pct = |p: &Option<Percentiles>| {
        p.map_or("-".to_string(), |p| {
            format!(
                "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms
            )
        })
    };
    println!("live streams: {} on {} (metric {})", report.streams, report.url, report.metric);
    println!(
        "sent: {} samples at {}/s for {:.0} s, {} accepted",
        report.sent, report.target_rate, report.duration_s, report.accepted
    );
    println!(
        "delivered: {} of {} ({} missing, {} resets, {} streams ended early)",
        report.delivered,
        report.expected_deliveries,
        report.missing,
        report.resets,
        report.streams_ended_early
    );
    println!("202 -> event: {}", pct(&report.accepted_to_event_ms));
    println!(
        "  ({} arrivals came before the client had read the 202; counted as 0)",
        report.arrived_before_202
    );
    println!("send -> event: {}", pct(&report.sent_to_event_ms));
    if let Some(m) = &report.server {
        let mib = |kib: u64| kib as f64 / 1024.0;
        println!(
            "server {} RSS: {:.1} MiB before, {:.1} MiB with the streams idle ({:+.1} MiB, {:.1} KiB per stream), {:.1} MiB at the end (peak {:.1} MiB)",
            m.pid,
            mib(m.before_streams.rss_kib),
            mib(m.with_idle_streams.rss_kib),
            m.extra_rss_idle_streams_kib as f64 / 1024.0,
            m.extra_rss_idle_streams_kib as f64 / report.streams.max(1) as f64,
            mib(m.at_end.rss_kib),
            mib(m.at_end.peak_rss_kib),
        );
        println!("server CPU while sending: {:.2} cores", m.cpu_cores_while_sending);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_are_read_once_complete_and_heartbeats_are_skipped() {
        let mut buffer = b":\n\nid: 7\nevent: samples\ndata: {\"type\":\"samples\",\"samples\":[{\"value\":3}]}\n\nid: 8\nev".to_vec();
        let events = complete_events(&mut buffer).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].kind.as_str(), events[0].samples[0].value), ("samples", 3.0));
        assert_eq!(buffer, b"id: 8\nev", "the partial event waits for the rest");

        buffer.extend_from_slice(b"ent: reset\ndata: {\"type\":\"reset\",\"id\":\"8\"}\n\n");
        let events = complete_events(&mut buffer).unwrap();
        assert_eq!((events.len(), events[0].kind.as_str()), (1, "reset"));
        assert!(buffer.is_empty());
    }
}
