//! CPU usage from `/proc/stat`: the share of non-idle jiffies between two readings.

use std::collections::HashMap;

use super::{Point, pct};

/// Jiffies of one `cpu` line: `(busy, total)`, where idle and iowait are not busy. `guest`
/// time is already counted in `user`, so it is left out of the total.
fn jiffies(line: &str) -> Option<(u64, u64)> {
    let nums: Vec<u64> =
        line.split_ascii_whitespace().skip(1).take(8).map_while(|f| f.parse().ok()).collect();
    if nums.len() < 4 {
        return None;
    }
    let total: u64 = nums.iter().sum();
    let idle = nums[3] + nums.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Previous jiffies per `cpu` line label (`cpu`, `cpu0`, ...).
#[derive(Debug, Default)]
pub struct CpuState {
    prev: HashMap<String, (u64, u64)>,
}

impl CpuState {
    /// Reads `/proc/stat` text and pushes `system.cpu.usage_pct` (and per core with the `core`
    /// tag when `per_core`). Emits nothing on the first call: a percentage needs two readings.
    pub fn update(&mut self, stat: &str, per_core: bool, out: &mut Vec<Point>) {
        for line in stat.lines().filter(|l| l.starts_with("cpu")) {
            let label = line.split_ascii_whitespace().next().unwrap_or_default();
            let core = label.strip_prefix("cpu").filter(|c| !c.is_empty());
            if core.is_some() && !per_core {
                continue;
            }
            let Some(now) = jiffies(line) else { continue };
            if let Some((busy0, total0)) = self.prev.insert(label.to_owned(), now)
                && now.1 > total0
                && now.0 >= busy0
            {
                let usage = pct((now.0 - busy0) as f64, (now.1 - total0) as f64);
                out.push(match core {
                    None => Point::new("system.cpu.usage_pct", usage),
                    Some(c) => Point::tagged("system.cpu.usage_pct", usage, "core", c),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: &str = "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 50 0 50 350 50 0 0 0 0 0\n\
                      cpu1 50 0 50 350 50 0 0 0 0 0\nintr 1 2 3\n";
    const T1: &str = "cpu  200 0 200 1200 100 0 0 0 0 0\ncpu0 150 0 50 400 50 0 0 0 0 0\n\
                      cpu1 50 0 150 800 50 0 0 0 0 0\nintr 1 2 3\n";

    #[test]
    fn the_first_reading_emits_nothing_because_usage_needs_two() {
        let mut out = Vec::new();
        CpuState::default().update(T0, true, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn usage_is_the_busy_share_of_jiffies_between_two_readings() {
        let (mut state, mut out) = (CpuState::default(), Vec::new());
        state.update(T0, false, &mut out);
        state.update(T1, false, &mut out);
        // busy +200 of total +700
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, "system.cpu.usage_pct");
        assert!((out[0].value - 200.0 / 700.0 * 100.0).abs() < 1e-9, "{}", out[0].value);
        assert!(out[0].tags.is_empty());
    }

    #[test]
    fn per_core_usage_is_tagged_with_the_core_number() {
        let (mut state, mut out) = (CpuState::default(), Vec::new());
        state.update(T0, true, &mut out);
        state.update(T1, true, &mut out);
        let cores: Vec<_> = out.iter().filter(|p| !p.tags.is_empty()).collect();
        assert_eq!(cores.len(), 2);
        assert_eq!(cores[0].tags, vec![("core", "0".to_owned())]);
        assert!((cores[0].value - 100.0 / 150.0 * 100.0).abs() < 1e-9);
        assert!((cores[1].value - 100.0 / 550.0 * 100.0).abs() < 1e-9);
    }
}
