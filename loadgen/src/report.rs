//! The final report: one struct, printed as text for people or as one JSON object for scripts.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::process::Memory;
use super::query::Probe;
use super::send::MAX_PROBES_IN_FLIGHT;
use super::stats::Percentiles;

/// Everything a run measured.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub url: String,
    pub metric: String,
    /// `max` (as fast as possible) or `rate`.
    pub mode: &'static str,
    pub target_rate: Option<f64>,
    pub planned_samples: u64,
    /// `--duration`: sending stops after this long even if samples remain.
    pub duration_limit_s: Option<f64>,
    pub batch: usize,
    pub concurrency: usize,
    pub series: u64,
    pub dedupe: bool,
    pub sent: SentReport,
    pub queryable: QueryableReport,
    pub visibility: Option<VisibilityReport>,
    pub server: Option<ServerReport>,
    /// CPU time of the generator itself, to tell whether it was the bottleneck.
    pub loadgen_cpu_s: Option<f64>,
}

/// The sending phase.
#[derive(Debug, Serialize)]
pub(crate) struct SentReport {
    pub accepted: u64,
    pub requests: u64,
    /// 429 and 503 replies, each followed by a resend of the same batch.
    pub retries: u64,
    pub retries_429: u64,
    pub retries_503: u64,
    /// Connection failures followed by a resend.
    pub transport_retries: u64,
    /// First send to last 202 (in `--rate` mode, to the end of the paced schedule if later).
    pub elapsed_s: f64,
    pub samples_per_s: f64,
    /// Send-to-reply time of the accepted requests.
    pub reply_ms: Option<Percentiles>,
}

/// Waiting until everything accepted is queryable.
#[derive(Debug, Serialize)]
pub(crate) struct QueryableReport {
    pub queryable: u64,
    pub missing: u64,
    /// Last 202 to the reply of the first query that counted everything.
    pub after_last_accept_ms: Option<f64>,
    /// Round trip of the last count query, part of `after_last_accept_ms`.
    pub last_poll_ms: f64,
    /// First send to everything queryable (in `--rate` mode, at least the paced schedule).
    pub end_to_end_s: Option<f64>,
    pub end_to_end_samples_per_s: Option<f64>,
    pub timeout_s: f64,
}

/// 202-to-queryable latency of sampled requests (`--rate` mode).
#[derive(Debug, Serialize)]
pub(crate) struct VisibilityReport {
    /// One request in this many was probed.
    pub probe_every: u64,
    pub probes: usize,
    /// Requests due for a probe while the most probes were already polling.
    pub skipped: u64,
    pub not_visible: usize,
    pub failed: usize,
    /// Each includes one query round trip, see `poll_p50_ms`.
    pub latency_ms: Option<Percentiles>,
    /// Median round trip of the polls that saw their batch.
    pub poll_p50_ms: Option<f64>,
}

impl VisibilityReport {
    pub(crate) fn of(probe_every: u64, skipped: u64, probes: &[Probe]) -> Self {
        let (mut latencies, mut polls) = (Vec::new(), Vec::new());
        let (mut not_visible, mut failed) = (0, 0);
        for probe in probes {
            match *probe {
                Probe::Visible { latency, poll } => {
                    latencies.push(latency);
                    polls.push(poll);
                }
                Probe::NotVisible => not_visible += 1,
                Probe::Failed => failed += 1,
            }
        }
        Self {
            probe_every,
            probes: probes.len(),
            skipped,
            not_visible,
            failed,
            latency_ms: Percentiles::of(latencies),
            poll_p50_ms: Percentiles::of(polls).map(|p| p.p50_ms),
        }
    }
}

/// The server process, from `/proc`.
#[derive(Debug, Serialize)]
pub(crate) struct ServerReport {
    pub pid: u32,
    /// CPU time used from the first send until everything was queryable (or the timeout).
    pub cpu_s: f64,
    /// `cpu_s` over that wall time: average cores busy.
    pub cpu_cores: f64,
    pub memory: Memory,
}

impl Report {
    /// Prints the report to stdout.
    ///
    /// # Errors
    /// Only if JSON serialisation fails, which plain data cannot.
    // Printing the report is what the command is for.
    #[allow(clippy::print_stdout)]
    pub(crate) fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string(self)?);
        } else {
            print!("{}", self.text());
        }
        Ok(())
    }

    fn text(&self) -> String {
        let mut t = String::new();
        let mode = match self.target_rate {
            Some(rate) => format!("paced at {} samples/s", group(rate.round() as u64)),
            None => "as fast as possible".to_owned(),
        };
        let dedupe = if self.dedupe { "with" } else { "no" };
        let _ = writeln!(t, "microdash loadgen → {}, metric {}", self.url, self.metric);
        let _ = writeln!(
            t,
            "  plan        {}{} samples, {mode}, batch {}, concurrency {}, {} series, {dedupe} dedupe_id",
            self.duration_limit_s.map_or(String::new(), |d| format!("{d} s or ")),
            group(self.planned_samples),
            group(self.batch as u64),
            self.concurrency,
            self.series,
        );
        let s = &self.sent;
        let _ = writeln!(t, "sending");
        let _ = writeln!(t, "  accepted    {} samples in {} requests", group(s.accepted), group(s.requests));
        let _ = writeln!(
            t,
            "  retries     {} (429: {}, 503: {}; connection failures: {})",
            s.retries, s.retries_429, s.retries_503, s.transport_retries
        );
        let _ = writeln!(t, "  elapsed     {:.3} s", s.elapsed_s);
        let _ = writeln!(t, "  throughput  {} samples/s accepted", group(s.samples_per_s.round() as u64));
        if let Some(p) = &s.reply_ms {
            let _ = writeln!(t, "  reply time  {}", percentiles(p));
        }
        let q = &self.queryable;
        let _ = writeln!(t, "queryable");
        match (q.after_last_accept_ms, q.end_to_end_s, q.end_to_end_samples_per_s) {
            (Some(after), Some(e2e), Some(rate)) => {
                let _ = writeln!(
                    t,
                    "  all {} queryable {after:.1} ms after the last 202 (the count query took {:.1} ms)",
                    group(q.queryable),
                    q.last_poll_ms
                );
                let _ = writeln!(
                    t,
                    "  end to end  {e2e:.3} s, {} samples/s (first send to all queryable)",
                    group(rate.round() as u64)
                );
            }
            _ => {
                let _ = writeln!(
                    t,
                    "  MISSING     {} of {} accepted samples not queryable {:?} after the last 202",
                    group(q.missing),
                    group(s.accepted),
                    Duration::from_secs_f64(q.timeout_s)
                );
            }
        }
        if let Some(v) = &self.visibility {
            let every = if v.probe_every == 1 {
                "every request".to_owned()
            } else {
                format!("1 request in {}", v.probe_every)
            };
            let skipped = if v.skipped > 0 {
                format!(", {} skipped while {MAX_PROBES_IN_FLIGHT} were polling", v.skipped)
            } else {
                String::new()
            };
            let _ = writeln!(t, "visibility (202 to queryable; {} probes, {every}{skipped})", v.probes);
            if let Some(p) = &v.latency_ms {
                let _ = writeln!(t, "  latency     {}", percentiles(p));
            }
            if let Some(poll) = v.poll_p50_ms {
                let _ = writeln!(t, "              each includes one query round trip (median {poll:.3} ms)");
            }
            if v.not_visible + v.failed > 0 {
                let _ = writeln!(t, "  NOT SEEN    {} probes timed out, {} failed", v.not_visible, v.failed);
            }
        }
        if let Some(server) = &self.server {
            let _ = writeln!(t, "server (pid {})", server.pid);
            let _ =
                writeln!(t, "  CPU         {:.2} s, {:.2} cores on average", server.cpu_s, server.cpu_cores);
            let _ = writeln!(
                t,
                "  memory      peak RSS {:.1} MiB, RSS now {:.1} MiB",
                server.memory.peak_rss_kib as f64 / 1024.0,
                server.memory.rss_kib as f64 / 1024.0
            );
        }
        if let Some(cpu) = self.loadgen_cpu_s {
            let _ = writeln!(t, "loadgen CPU   {cpu:.2} s");
        }
        t
    }
}

fn percentiles(p: &Percentiles) -> String {
    format!("p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms", p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms)
}

/// `1234567` as `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Seconds of a duration to the millisecond, for reports.
pub(crate) fn secs(d: Duration) -> f64 {
    d.as_millis() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(2_000_000), "2,000,000");
    }

    #[test]
    fn visibility_counts_each_probe_outcome() {
        let seen = |ms| Probe::Visible { latency: Duration::from_millis(ms), poll: Duration::from_millis(1) };
        let v = VisibilityReport::of(2, 3, &[seen(5), seen(9), Probe::NotVisible, Probe::Failed]);
        assert_eq!((v.probes, v.skipped, v.not_visible, v.failed), (4, 3, 1, 1));
        assert_eq!(v.latency_ms.unwrap().max_ms, 9.0);
        assert_eq!(v.poll_p50_ms, Some(1.0));
    }
}
