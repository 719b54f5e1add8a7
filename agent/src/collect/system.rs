//! Load average, memory, swap and uptime: single-reading `/proc` files, no state.

use super::{Point, field, pct};

/// `/proc/loadavg` → `system.load.1m`, `system.load.5m`, `system.load.15m`.
pub fn parse_loadavg(text: &str, out: &mut Vec<Point>) {
    for (i, name) in ["system.load.1m", "system.load.5m", "system.load.15m"].into_iter().enumerate() {
        if let Some(v) = field::<f64>(text, i) {
            out.push(Point::new(name, v));
        }
    }
}

/// `/proc/uptime` → `system.uptime_s`.
pub fn parse_uptime(text: &str, out: &mut Vec<Point>) {
    if let Some(v) = field::<f64>(text, 0) {
        out.push(Point::new("system.uptime_s", v));
    }
}

/// A `/proc/meminfo` value in bytes (the file says kB, meaning KiB).
fn meminfo(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| field::<u64>(rest, 0))
        .map(|kib| kib * 1024)
}

/// `/proc/meminfo` → `system.mem.{total,available,used}_bytes` and `system.mem.used_pct`.
/// Used is `MemTotal - MemAvailable`: memory the kernel cannot hand out without swapping,
/// which is what an operator means by "used" (page cache is not counted).
pub fn parse_memory(text: &str, out: &mut Vec<Point>) {
    let (Some(total), Some(available)) = (meminfo(text, "MemTotal"), meminfo(text, "MemAvailable")) else {
        return;
    };
    let used = total.saturating_sub(available);
    out.push(Point::new("system.mem.total_bytes", total as f64));
    out.push(Point::new("system.mem.available_bytes", available as f64));
    out.push(Point::new("system.mem.used_bytes", used as f64));
    out.push(Point::new("system.mem.used_pct", pct(used as f64, total as f64)));
}

/// `/proc/meminfo` → `system.swap.{total,free,used}_bytes` and `system.swap.used_pct`
/// (0 % on a host without swap).
pub fn parse_swap(text: &str, out: &mut Vec<Point>) {
    let (Some(total), Some(free)) = (meminfo(text, "SwapTotal"), meminfo(text, "SwapFree")) else {
        return;
    };
    let used = total.saturating_sub(free);
    out.push(Point::new("system.swap.total_bytes", total as f64));
    out.push(Point::new("system.swap.free_bytes", free as f64));
    out.push(Point::new("system.swap.used_bytes", used as f64));
    out.push(Point::new("system.swap.used_pct", pct(used as f64, total as f64)));
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:       16000000 kB\nMemFree:         2000000 kB\n\
                           MemAvailable:    12000000 kB\nBuffers:  100 kB\nSwapCached: 0 kB\n\
                           SwapTotal:        1000000 kB\nSwapFree:          750000 kB\n";

    fn value(out: &[Point], name: &str) -> f64 {
        out.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no {name} in {out:?}")).value
    }

    #[test]
    fn load_average_gives_three_windows() {
        let mut out = Vec::new();
        parse_loadavg("0.52 0.33 1.25 2/345 6789\n", &mut out);
        assert_eq!(value(&out, "system.load.1m"), 0.52);
        assert_eq!(value(&out, "system.load.15m"), 1.25);
    }

    #[test]
    fn memory_used_is_total_minus_available_in_bytes() {
        let mut out = Vec::new();
        parse_memory(MEMINFO, &mut out);
        assert_eq!(value(&out, "system.mem.total_bytes"), 16_000_000.0 * 1024.0);
        assert_eq!(value(&out, "system.mem.used_bytes"), 4_000_000.0 * 1024.0);
        assert_eq!(value(&out, "system.mem.used_pct"), 25.0);
    }

    #[test]
    fn swap_is_read_without_confusing_swap_cached_for_swap_total() {
        let mut out = Vec::new();
        parse_swap(MEMINFO, &mut out);
        assert_eq!(value(&out, "system.swap.used_bytes"), 250_000.0 * 1024.0);
        assert_eq!(value(&out, "system.swap.used_pct"), 25.0);
    }

    #[test]
    fn a_host_without_swap_reports_zero_percent() {
        let mut out = Vec::new();
        parse_swap("SwapTotal: 0 kB\nSwapFree: 0 kB\n", &mut out);
        assert_eq!(value(&out, "system.swap.used_pct"), 0.0);
    }

    #[test]
    fn uptime_is_the_first_field_in_seconds() {
        let mut out = Vec::new();
        parse_uptime("350735.47 234388.90\n", &mut out);
        assert_eq!(value(&out, "system.uptime_s"), 350_735.47);
    }
}
