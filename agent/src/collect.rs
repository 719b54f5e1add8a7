//! Host metric collectors that read `/proc` (and `statvfs`) directly.
//!
//! Each collector turns one `/proc` file into [`Point`]s. Parsing is a pure function of the
//! file's text so it can be tested on fixtures; rates (CPU %, bytes/s) keep the previous
//! reading, so the first collection after start emits no rate metrics.
//! Not for: naming or batching samples for the wire (see [`crate::batch`]).
//!
//! # Layout
//! - [`cpu`]: `/proc/stat` → `system.cpu.usage_pct` (total, optionally per core).
//! - [`system`]: `/proc/loadavg`, `/proc/meminfo`, `/proc/uptime` → load, memory, swap, uptime.
//! - [`disk`]: `/proc/self/mounts` + `statvfs` → usage per mount; `/proc/diskstats` → I/O rates.
//! - [`net`]: `/proc/net/dev` → bytes and errors per second per interface.

pub mod cpu;
pub mod disk;
pub mod net;
pub mod system;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

/// One measured value with its metric name and tags, before it becomes a wire sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Metric name, e.g. `system.cpu.usage_pct`; documented in `agent/README.md`.
    pub name: &'static str,
    /// The value.
    pub value: f64,
    /// Tags that tell series of one metric apart (`core`, `mount`, `device`, `interface`).
    pub tags: Vec<(&'static str, String)>,
}

impl Point {
    /// A point without tags.
    pub fn new(name: &'static str, value: f64) -> Self {
        Self { name, value, tags: Vec::new() }
    }

    /// A point with one tag.
    pub fn tagged(name: &'static str, value: f64, key: &'static str, tag: impl Into<String>) -> Self {
        Self { name, value, tags: vec![(key, tag.into())] }
    }
}

/// A collector that can be switched on or off by name (`--collectors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CollectorKind {
    /// CPU usage (`system.cpu.*`).
    Cpu,
    /// Load average (`system.load.*`).
    Load,
    /// Memory (`system.mem.*`).
    Memory,
    /// Swap (`system.swap.*`).
    Swap,
    /// File system usage per mount (`system.disk.used_pct`, `system.disk.free_bytes`).
    Disk,
    /// Disk I/O rates per block device (`system.disk.*_bytes_per_s`).
    Diskio,
    /// Network rates per interface (`system.net.*`).
    Net,
    /// Uptime (`system.uptime_s`).
    Uptime,
}

impl CollectorKind {
    /// Every collector, the default selection.
    pub const ALL: [CollectorKind; 8] = [
        CollectorKind::Cpu,
        CollectorKind::Load,
        CollectorKind::Memory,
        CollectorKind::Swap,
        CollectorKind::Disk,
        CollectorKind::Diskio,
        CollectorKind::Net,
        CollectorKind::Uptime,
    ];
}

/// The enabled collectors and the state their rates need between two collections.
#[derive(Debug)]
pub struct Collectors {
    proc_root: PathBuf,
    kinds: Vec<CollectorKind>,
    per_core: bool,
    cpu: cpu::CpuState,
    diskio: disk::DiskIoState,
    net: net::NetState,
}

impl Collectors {
    /// Collectors reading below `proc_root` (normally `/proc`).
    pub fn new(proc_root: impl Into<PathBuf>, kinds: &[CollectorKind], per_core: bool) -> Self {
        Self {
            proc_root: proc_root.into(),
            kinds: kinds.to_vec(),
            per_core,
            cpu: cpu::CpuState::default(),
            diskio: disk::DiskIoState::default(),
            net: net::NetState::default(),
        }
    }

    /// Reads every enabled source once. A source that cannot be read is logged and skipped,
    /// so one missing file never costs the whole batch.
    pub fn collect(&mut self) -> Vec<Point> {
        let mut out = Vec::with_capacity(64);
        let now = Instant::now();
        for kind in self.kinds.clone() {
            let result = match kind {
                CollectorKind::Cpu => self.read("stat").map(|s| self.cpu.update(&s, self.per_core, &mut out)),
                CollectorKind::Load => self.read("loadavg").map(|s| system::parse_loadavg(&s, &mut out)),
                CollectorKind::Memory => self.read("meminfo").map(|s| system::parse_memory(&s, &mut out)),
                CollectorKind::Swap => self.read("meminfo").map(|s| system::parse_swap(&s, &mut out)),
                CollectorKind::Disk => self.read("self/mounts").map(|s| disk::collect_usage(&s, &mut out)),
                CollectorKind::Diskio => {
                    self.read("diskstats").map(|s| self.diskio.update(&s, now, &mut out))
                }
                CollectorKind::Net => self.read("net/dev").map(|s| self.net.update(&s, now, &mut out)),
                CollectorKind::Uptime => self.read("uptime").map(|s| system::parse_uptime(&s, &mut out)),
            };
            if let Err(error) = result {
                tracing::warn!(collector = ?kind, error = %error, "Collector could not read its source.");
            }
        }
        out
    }

    fn read(&self, rel: &str) -> std::io::Result<String> {
        std::fs::read_to_string(self.proc_root.join(rel))
    }

    /// The `/proc` root this set reads from.
    pub fn proc_root(&self) -> &Path {
        &self.proc_root
    }
}

/// Parses the `n`th whitespace-separated field of a line, if present and well-formed.
pub(crate) fn field<T: FromStr>(line: &str, n: usize) -> Option<T> {
    line.split_ascii_whitespace().nth(n).and_then(|f| f.parse().ok())
}

/// `part / whole` as a percentage, 0 when `whole` is 0.
pub(crate) fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { (part / whole * 100.0).clamp(0.0, 100.0) } else { 0.0 }
}

/// A per-second rate between two counter readings; `None` when the counter went backwards
/// (wrap or device reset) or no time passed.
pub(crate) fn rate(prev: u64, now: u64, secs: f64) -> Option<f64> {
    (now >= prev && secs > 0.0).then(|| (now - prev) as f64 / secs)
}

#[cfg(test)]
mod tests {
    use microdash_domain::MetricName;

    use super::*;

    /// A fake `/proc` with every file the collectors read.
    fn fixture_proc(dir: &Path, jiffies: u64) {
        std::fs::create_dir_all(dir.join("self")).unwrap();
        std::fs::create_dir_all(dir.join("net")).unwrap();
        let files = [
            (
                "stat",
                format!(
                    "cpu  {jiffies} 0 0 {jiffies} 0 0 0 0 0 0\ncpu0 {jiffies} 0 0 {jiffies} 0 0 0 0 0 0\n"
                ),
            ),
            ("loadavg", "0.10 0.20 0.30 1/100 999\n".to_owned()),
            (
                "meminfo",
                "MemTotal: 1000 kB\nMemAvailable: 500 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n".to_owned(),
            ),
            ("self/mounts", "/dev/root / ext4 rw 0 0\nproc /proc proc rw 0 0\n".to_owned()),
            ("diskstats", format!("8 0 sda 1 0 {jiffies} 0 1 0 {jiffies} 0 0 0 0\n")),
            ("net/dev", format!("h\nh\n  eth0: {jiffies} 1 0 0 0 0 0 0 {jiffies} 1 0 0 0 0 0 0\n")),
            ("uptime", "100.5 50.0\n".to_owned()),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }

    #[test]
    fn every_collector_reads_its_file_and_every_name_is_a_valid_metric_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Collectors::new(dir.path(), &CollectorKind::ALL, true);
        fixture_proc(dir.path(), 100);
        c.collect();
        fixture_proc(dir.path(), 200);
        let points = c.collect();
        for name in [
            "system.cpu.usage_pct",
            "system.load.1m",
            "system.mem.used_pct",
            "system.swap.used_pct",
            "system.disk.used_pct",
            "system.disk.write_bytes_per_s",
            "system.net.rx_bytes_per_s",
            "system.uptime_s",
        ] {
            assert!(points.iter().any(|p| p.name == name), "{name} missing from {points:?}");
        }
        for p in &points {
            MetricName::new(p.name).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        }
    }

    #[test]
    fn a_missing_source_is_skipped_without_losing_the_others() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("uptime"), "1.0 1.0\n").unwrap();
        let points = Collectors::new(dir.path(), &CollectorKind::ALL, false).collect();
        assert_eq!(points, vec![Point::new("system.uptime_s", 1.0)]);
    }
}
