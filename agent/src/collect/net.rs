//! Network rates per interface from `/proc/net/dev` (loopback skipped).

use std::collections::HashMap;
use std::time::Instant;

use super::{Point, rate};

/// Counters of one interface: rx bytes, rx errors, tx bytes, tx errors.
type Counters = [u64; 4];

/// Parses `/proc/net/dev` into `(interface, counters)`, skipping the two header lines and `lo`.
pub fn parse_net_dev(text: &str) -> Vec<(&str, Counters)> {
    text.lines()
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let name = name.trim();
            let f: Vec<u64> = rest.split_ascii_whitespace().map_while(|v| v.parse().ok()).collect();
            (name != "lo" && f.len() >= 11).then(|| (name, [f[0], f[2], f[8], f[10]]))
        })
        .collect()
}

/// Previous counters per interface and when they were read.
#[derive(Debug, Default)]
pub struct NetState {
    prev: HashMap<String, Counters>,
    at: Option<Instant>,
}

/// Metric names in the order of [`Counters`].
const NAMES: [&str; 4] = [
    "system.net.rx_bytes_per_s",
    "system.net.rx_errors_per_s",
    "system.net.tx_bytes_per_s",
    "system.net.tx_errors_per_s",
];

impl NetState {
    /// Reads `/proc/net/dev` text and pushes bytes and errors per second (tag `interface`).
    /// Emits nothing on the first call.
    pub fn update(&mut self, text: &str, now: Instant, out: &mut Vec<Point>) {
        let secs = self.at.map(|t| now.duration_since(t).as_secs_f64()).unwrap_or(0.0);
        self.at = Some(now);
        for (name, counters) in parse_net_dev(text) {
            if let Some(prev) = self.prev.insert(name.to_owned(), counters) {
                for i in 0..4 {
                    if let Some(r) = rate(prev[i], counters[i], secs) {
                        out.push(Point::tagged(NAMES[i], r, "interface", name));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const DEV0: &str = "Inter-|   Receive                                                |  Transmit\n \
        face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
        lo: 5000 50 0 0 0 0 0 0 5000 50 0 0 0 0 0 0\n  \
        eth0: 1000 10 1 0 0 0 0 0 2000 20 0 0 0 0 0 0\n";
    const DEV1: &str = "Inter-|   Receive\n face |bytes\n    \
        lo: 9000 90 0 0 0 0 0 0 9000 90 0 0 0 0 0 0\n  \
        eth0: 11000 110 5 0 0 0 0 0 4000 40 2 0 0 0 0 0\n";

    #[test]
    fn loopback_and_headers_are_skipped() {
        let got = parse_net_dev(DEV0);
        assert_eq!(got, vec![("eth0", [1000, 1, 2000, 0])]);
    }

    #[test]
    fn rates_are_per_second_and_tagged_with_the_interface() {
        let (mut state, mut out, t0) = (NetState::default(), Vec::new(), Instant::now());
        state.update(DEV0, t0, &mut out);
        assert!(out.is_empty());
        state.update(DEV1, t0 + Duration::from_secs(10), &mut out);
        let got: Vec<_> = out.iter().map(|p| (p.name, p.value)).collect();
        assert_eq!(
            got,
            vec![
                ("system.net.rx_bytes_per_s", 1000.0),
                ("system.net.rx_errors_per_s", 0.4),
                ("system.net.tx_bytes_per_s", 200.0),
                ("system.net.tx_errors_per_s", 0.2)
            ]
        );
        assert!(out.iter().all(|p| p.tags == vec![("interface", "eth0".to_owned())]));
    }
}
