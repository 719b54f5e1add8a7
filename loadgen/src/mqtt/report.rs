//! The report of the MQTT mode, as text for people or one JSON object for scripts.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::process::{self, Memory};
use crate::stats::Percentiles;

/// Everything an MQTT run measured.
#[derive(Debug, Serialize)]
pub(crate) struct MqttReport {
    pub url: String,
    pub metric: String,
    /// `max` (as fast as acknowledged) or `rate`.
    pub mode: &'static str,
    pub target_rate: Option<f64>,
    pub clients: usize,
    pub inflight: usize,
    pub acknowledged: u64,
    /// First send to last PUBACK (in `--rate` mode, at least the paced schedule).
    pub elapsed_s: f64,
    pub acknowledged_per_s: f64,
    /// Send-to-PUBACK time of every message.
    pub puback_ms: Option<Percentiles>,
    pub queryable: u64,
    pub missing: u64,
    /// Last PUBACK to the first count that saw every message.
    pub queryable_after_last_ack_ms: Option<f64>,
    /// First send to everything queryable.
    pub end_to_end_s: Option<f64>,
    /// Messages per second, fully queryable: acknowledged messages over `end_to_end_s`.
    pub queryable_per_s: Option<f64>,
    pub idle: Option<IdleReport>,
    pub server: Option<ServerReport>,
    pub loadgen_cpu_s: Option<f64>,
}

/// The idle connections and what they cost the server.
#[derive(Debug, Serialize)]
pub(crate) struct IdleReport {
    pub connections: usize,
    pub connect_s: f64,
    pub server_rss_before_kib: Option<u64>,
    pub server_rss_after_kib: Option<u64>,
    pub extra_rss_kib: Option<u64>,
    pub per_connection_kib: Option<f64>,
}

impl IdleReport {
    pub(crate) fn new(
        connections: usize,
        connect_s: f64,
        before: Option<Memory>,
        after: Option<Memory>,
    ) -> Self {
        let extra = before.zip(after).map(|(b, a)| a.rss_kib.saturating_sub(b.rss_kib));
        Self {
            connections,
            connect_s,
            server_rss_before_kib: before.map(|m| m.rss_kib),
            server_rss_after_kib: after.map(|m| m.rss_kib),
            extra_rss_kib: extra,
            per_connection_kib: extra.map(|e| (e as f64 / connections as f64 * 100.0).round() / 100.0),
        }
    }
}

/// The server's CPU and memory over the run.
#[derive(Debug, Serialize)]
pub(crate) struct ServerReport {
    pub cpu_s: f64,
    pub cpu_cores: f64,
    pub memory: Memory,
}

impl ServerReport {
    pub(crate) fn measure(pid: &str, cpu_before: Duration, wall: Duration) -> anyhow::Result<Self> {
        let cpu = process::cpu_time(pid)?.saturating_sub(cpu_before);
        let cores = if wall.is_zero() {
            0.0
        } else {
            (cpu.as_secs_f64() / wall.as_secs_f64() * 100.0).round() / 100.0
        };
        Ok(Self { cpu_s: cpu.as_secs_f64(), cpu_cores: cores, memory: process::memory(pid)? })
    }
}

impl MqttReport {
    // The report is the command's output.
    #[allow(clippy::print_stdout)]
    pub(crate) fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string_pretty(self)?);
        } else {
            print!("{}", self.text());
        }
        Ok(())
    }

    fn text(&self) -> String {
        let mut t = String::new();
        let rate = self.target_rate.map_or(String::new(), |r| format!(" at {r}/s"));
        let _ = writeln!(
            t,
            "MQTT {} ({}{rate}): {} clients × {} in flight, QoS 1, one sample per message, metric {}",
            self.url, self.mode, self.clients, self.inflight, self.metric
        );
        let _ = writeln!(
            t,
            "acknowledged  {} messages in {:.2} s: {:.0} msg/s",
            self.acknowledged, self.elapsed_s, self.acknowledged_per_s
        );
        if let Some(p) = &self.puback_ms {
            let _ = writeln!(
                t,
                "PUBACK        p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms
            );
        }
        match (self.end_to_end_s, self.queryable_per_s, self.queryable_after_last_ack_ms) {
            (Some(e2e), Some(per_s), Some(after)) => {
                let _ = writeln!(
                    t,
                    "queryable     all {} in {e2e:.2} s from the first send ({after:.0} ms after the last PUBACK): {per_s:.0} msg/s fully queryable",
                    self.queryable
                );
            }
            _ => {
                let _ = writeln!(
                    t,
                    "queryable     {} of {}, {} missing",
                    self.queryable, self.acknowledged, self.missing
                );
            }
        }
        if let Some(idle) = &self.idle {
            let _ = write!(t, "idle clients  {} connected in {:.1} s", idle.connections, idle.connect_s);
            match (
                idle.server_rss_before_kib,
                idle.server_rss_after_kib,
                idle.extra_rss_kib,
                idle.per_connection_kib,
            ) {
                (Some(b), Some(a), Some(e), Some(per)) => {
                    let _ = writeln!(
                        t,
                        "; server RSS {:.1} MiB -> {:.1} MiB (+{:.1} MiB, {per:.2} KiB per connection)",
                        b as f64 / 1024.0,
                        a as f64 / 1024.0,
                        e as f64 / 1024.0
                    );
                }
                _ => {
                    let _ = writeln!(t, " (give --server-pid to measure the server's RSS)");
                }
            }
        }
        if let Some(s) = &self.server {
            let _ = writeln!(
                t,
                "server        CPU {:.1} s ({:.2} cores), RSS {:.1} MiB (peak {:.1} MiB)",
                s.cpu_s,
                s.cpu_cores,
                s.memory.rss_kib as f64 / 1024.0,
                s.memory.peak_rss_kib as f64 / 1024.0
            );
        }
        if let Some(cpu) = self.loadgen_cpu_s {
            let _ = writeln!(t, "loadgen       CPU {cpu:.1} s");
        }
        t
    }
}
