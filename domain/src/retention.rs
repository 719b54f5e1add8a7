//! The rules a tenant's [`Retention`] must follow, and the duration syntax the admin CLI takes
//! (`24h`, `7d`, `30d`).
//!
//! Not for: deleting anything (the retention use case does, through the store).

use std::time::Duration;

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

/// Parses a duration such as `90m`, `24h`, `7d`, `2w` or a bare number of seconds.
///
/// # Errors
/// A message fit for a user when the text is not such a duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("'{text}' is not a duration like 24h, 7d or 30d"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("'{text}' has an unknown unit; use s, m, h, d or w")),
    };
    n.checked_mul(seconds).map(Duration::from_secs).ok_or_else(|| format!("'{text}' is too long"))
}

/// A duration the way [`parse_duration`] reads it, in the largest whole unit up to days
/// (`30d`, `90m`).
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s >= size && s.is_multiple_of(size) {
            return format!("{}{unit}", s / size);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u64) -> Duration {
        Duration::from_secs(n * 3600)
    }

    #[test]
    fn durations_parse_in_the_cli_syntax() {
        assert_eq!(parse_duration("24h"), Ok(h(24)));
        assert_eq!(parse_duration("7d"), Ok(h(7 * 24)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2w"), Ok(h(14 * 24)));
        assert_eq!(parse_duration("3600"), Ok(h(1)));
        for bad in ["", "h", "7 days", "-1d", "1y", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(h(24 * 30)), "30d");
        assert_eq!(format_duration(h(24 * 14)), "14d");
        assert_eq!(format_duration(Duration::from_secs(61)), "61s");
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
