//! Durations as users write them on the command line and in query parameters: `500ms`,
//! `30s`, `90m`, `24h`, `7d`, `2w` or a bare number of seconds; fractions are allowed (`1.5s`).

use std::time::Duration;

/// Parses a duration.
///
/// # Errors
/// A message for the user naming the accepted forms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "w" => 7.0 * 86_400.0,
        other => {
            return Err(format!("unknown unit '{other}' in '{text}'; use ms, s, m, h, d or w, e.g. 30s"));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration; write e.g. 500ms, 30s, 2m, 24h or 7d"))?;
    Duration::try_from_secs_f64(value * scale).map_err(|_| format!("'{text}' is out of range"))
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
    fn durations_parse_in_every_unit_with_fractions() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("24h"), Ok(h(24)));
        assert_eq!(parse_duration("7d"), Ok(h(7 * 24)));
        assert_eq!(parse_duration("2w"), Ok(h(14 * 24)));
        assert!(parse_duration("1y").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("s").unwrap_err().contains("not a duration"));
        for bad in ["", "h", "7 days", "-1d", "1.2.3s", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_format_in_the_largest_whole_unit() {
        assert_eq!(format_duration(h(24 * 30)), "30d");
        assert_eq!(format_duration(h(24 * 14)), "14d");
        assert_eq!(format_duration(Duration::from_secs(5400)), "90m");
        assert_eq!(format_duration(Duration::from_secs(61)), "61s");
    }
}
