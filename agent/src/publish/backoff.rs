//! Reconnect delays: exponential from 1 s to 1 min, with ±25 % jitter so a fleet of agents
//! that lost the broker together does not come back in lockstep.

use std::time::Duration;

/// First retry delay.
const FIRST: Duration = Duration::from_secs(1);
/// Longest delay: an outage is noticed within a minute of its end.
const MAX: Duration = Duration::from_secs(60);

/// The delay sequence of one outage; [`Backoff::reset`] after a successful connection.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let base = FIRST.saturating_mul(1 << self.failures.min(6)).min(MAX);
        self.failures = self.failures.saturating_add(1);
        base.mul_f64(0.75 + fastrand::f64() * 0.5)
    }

    /// Forgets past failures.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_a_minute_and_stay_within_the_jitter_band() {
        let mut b = Backoff::default();
        let bases = [1, 2, 4, 8, 16, 32, 60, 60];
        for base in bases {
            let d = b.next_delay().as_secs_f64();
            assert!(d >= base as f64 * 0.75 && d <= base as f64 * 1.25, "{d} vs {base}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(1250));
    }
}
