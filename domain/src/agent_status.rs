//! How the agents view judges an agent: its reporting interval, learned from the gaps between
//! the newest sample times it was seen with, and whether it is online.
//!
//! Not for: storing sightings (the agent registry does) or alerting on silence (alert rules).

use std::time::Duration;

use crate::time::Timestamp;

/// An agent is offline once nothing arrived for more than this many reporting intervals.
pub const OFFLINE_AFTER_INTERVALS: u32 = 2;

/// Shortest interval assumed: the agent registry is written about once a second, so gaps
/// shorter than that cannot be observed, and a 2-interval threshold below 2 s would flap.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Whether an agent is reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentStatus {
    /// Heard from within [`OFFLINE_AFTER_INTERVALS`] intervals.
    Online,
    /// Silent for longer.
    Offline,
}

impl AgentStatus {
    /// The status at `now` of an agent last heard from at `last_seen`. Without a learned
    /// interval (a single sighting so far) the agent counts as online for
    /// [`OFFLINE_AFTER_INTERVALS`] × `default_interval`.
    pub fn at(
        now: Timestamp,
        last_seen: Timestamp,
        interval: Option<Duration>,
        default_interval: Duration,
    ) -> Self {
        let interval = interval.unwrap_or(default_interval).max(MIN_INTERVAL);
        let limit =
            i64::try_from(interval.as_millis() * u128::from(OFFLINE_AFTER_INTERVALS)).unwrap_or(i64::MAX);
        if now.as_millis().saturating_sub(last_seen.as_millis()) > limit {
            Self::Offline
        } else {
            Self::Online
        }
    }

    /// `online` or `offline`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Offline => "offline",
        }
    }
}

/// The next estimate of an agent's reporting interval, in milliseconds, after a gap of `gap_ms`
/// between the newest sample times of two sightings.
///
/// The first gap is taken as it is. After that the estimate moves a quarter of the way to gaps
/// up to three times itself (so a changed interval is learnt within a few reports), and only a
/// sixteenth of the way to longer gaps, which are mostly outages and would otherwise make a
/// flapping agent look slow. Gaps of zero or less (a replay, out-of-order sightings) teach
/// nothing.
pub fn learn_interval(previous_ms: Option<i64>, gap_ms: i64) -> Option<i64> {
    if gap_ms <= 0 {
        return previous_ms;
    }
    Some(match previous_ms {
        None => gap_ms,
        Some(prev) if gap_ms <= prev.saturating_mul(3) => prev + (gap_ms - prev) / 4,
        Some(prev) => prev + (gap_ms - prev) / 16,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn an_agent_is_offline_after_twice_its_interval() {
        let ten = Some(Duration::from_secs(10));
        let dflt = Duration::from_secs(60);
        assert_eq!(AgentStatus::at(ts(20_000), ts(0), ten, dflt), AgentStatus::Online);
        assert_eq!(AgentStatus::at(ts(20_001), ts(0), ten, dflt), AgentStatus::Offline);
        assert_eq!(AgentStatus::at(ts(119_000), ts(0), None, dflt), AgentStatus::Online);
        assert_eq!(
            AgentStatus::at(ts(2_001), ts(0), Some(Duration::from_millis(100)), dflt),
            AgentStatus::Offline
        );
        assert_eq!(
            AgentStatus::at(ts(1_900), ts(0), Some(Duration::from_millis(100)), dflt),
            AgentStatus::Online
        );
    }

    #[test]
    fn the_interval_is_learnt_from_gaps_and_shrugs_off_an_outage() {
        // (previous estimate, gap, next estimate)
        let table = [
            (None, 10_000, Some(10_000)),
            (Some(10_000), 10_000, Some(10_000)),
            (Some(10_000), 30_000, Some(15_000)),
            (Some(10_000), 2_000, Some(8_000)),
            (Some(10_000), 3_600_000, Some(234_375)),
            (Some(10_000), 0, Some(10_000)),
            (None, -5, None),
        ];
        for (prev, gap, next) in table {
            assert_eq!(learn_interval(prev, gap), next, "{prev:?} + {gap}");
        }
        // A changed interval is learnt within a handful of reports.
        let mut estimate = Some(60_000);
        for _ in 0..12 {
            estimate = learn_interval(estimate, 10_000);
        }
        assert!(estimate.unwrap() < 12_000, "{estimate:?}");
    }
}
