//! The rules a tenant's [`Retention`] must follow (the admin CLI reads its durations with
//! [`crate::duration`]).
//!
//! Not for: deleting anything (the retention use case does, through the store).

use std::time::Duration;

use crate::duration::format_duration;
use crate::tenant::Retention;

/// Shortest raw retention: queries fold the minutes not yet rolled up from raw data, and late
/// samples are re-folded from raw, both within the last hour.
pub const MIN_RAW_RETENTION: Duration = Duration::from_secs(3600);

/// Longest retention of any resolution: ten years.
pub const MAX_RETENTION: Duration = Duration::from_secs(10 * 365 * 86_400);

/// Why a retention was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidRetention {
    /// `raw`, `1m` or `5m`.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl Retention {
    /// Checks the rules: raw at least [`MIN_RAW_RETENTION`]; raw ≤ 1m ≤ 5m (rollups are folded
    /// from the finer data, which must still be there); nothing over [`MAX_RETENTION`].
    ///
    /// # Errors
    /// [`InvalidRetention`] naming the first value that breaks a rule.
    pub fn validate(&self) -> Result<(), InvalidRetention> {
        let err = |field, message: String| Err(InvalidRetention { field, message });
        if self.raw < MIN_RAW_RETENTION {
            return err("raw", format!("must be at least {}", format_duration(MIN_RAW_RETENTION)));
        }
        if self.one_minute < self.raw {
            return err("1m", "must be at least the raw retention".into());
        }
        if self.five_minutes < self.one_minute {
            return err("5m", "must be at least the 1m retention".into());
        }
        for (field, d) in [("raw", self.raw), ("1m", self.one_minute), ("5m", self.five_minutes)] {
            if d > MAX_RETENTION {
                return err(field, format!("must be at most {}", format_duration(MAX_RETENTION)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u64) -> Duration {
        Duration::from_secs(n * 3600)
    }

    #[test]
    fn the_defaults_are_valid_and_the_rules_name_the_value_at_fault() {
        assert_eq!(Retention::default().validate(), Ok(()));
        let base = Retention::default();
        let table = [
            (Retention { raw: Duration::from_secs(60), ..base }, "raw"),
            (Retention { one_minute: h(1), ..base }, "1m"),
            (Retention { five_minutes: h(24 * 6), ..base }, "5m"),
            (Retention { five_minutes: MAX_RETENTION + h(1), ..base }, "5m"),
        ];
        for (retention, field) in table {
            assert_eq!(retention.validate().unwrap_err().field, field, "{retention:?}");
        }
    }
}
