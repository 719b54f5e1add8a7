//! CPU time and memory of a local process, from Linux `/proc`: the server's cost per sample,
//! and the generator's own CPU, which shows whether the generator was the bottleneck.

use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

/// Clock ticks per second of `/proc/<pid>/stat` times. Linux fixes the user-visible tick
/// (`USER_HZ`) at 100 on every architecture, whatever the kernel's internal `HZ`.
const USER_HZ: u64 = 100;

/// Memory of a process, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Memory {
    /// Peak resident set size (`VmHWM`).
    pub peak_rss_kib: u64,
    /// Resident set size now (`VmRSS`).
    pub rss_kib: u64,
}

/// User plus system CPU time consumed so far by `pid` (`"self"` for this process).
///
/// # Errors
/// When `/proc/<pid>/stat` cannot be read or parsed (no such process, not Linux).
pub(crate) fn cpu_time(pid: &str) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse_stat_cpu(&text).with_context(|| format!("unexpected format of {path}"))
}

/// Peak and current RSS of `pid`.
///
/// # Errors
/// When `/proc/<pid>/status` cannot be read or lacks the fields.
pub(crate) fn memory(pid: &str) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let field = |key| status_kib(&text, key).with_context(|| format!("no {key} in {path}"));
    Ok(Memory { peak_rss_kib: field("VmHWM")?, rss_kib: field("VmRSS")? })
}

/// `utime + stime` of a `stat` line. The command name (field 2) is in parentheses and may
/// itself contain spaces and parentheses, so fields are counted from the last `)`.
fn parse_stat_cpu(stat: &str) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: state is field 3, utime field 14, stime field 15.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / USER_HZ))
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (tokio (worker) 1) S 1 4242 4242 0 -1 4194560 9000 0 0 0 250 50 0 0 20 0 9 0";
        assert_eq!(parse_stat_cpu(stat), Some(Duration::from_secs(3)));
        assert_eq!(parse_stat_cpu("garbage"), None);
    }

    #[test]
    fn memory_fields_are_read_in_kib() {
        let status = "Name:\tmicrodash\nVmPeak:\t  900 kB\nVmHWM:\t  51200 kB\nVmRSS:\t  40960 kB\n";
        assert_eq!(status_kib(status, "VmHWM"), Some(51_200));
        assert_eq!(status_kib(status, "VmRSS"), Some(40_960));
        assert_eq!(status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn this_process_can_be_measured() {
        assert!(cpu_time("self").is_ok());
        assert!(memory("self").unwrap().peak_rss_kib > 0);
    }
}
