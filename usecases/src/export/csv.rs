//! CSV as RFC 4180 has it: comma-separated fields, CRLF line ends, a header row, and fields
//! holding a comma, a double quote, CR or LF enclosed in double quotes with inner quotes
//! doubled.

use std::fmt::Write as _;

use microdash_domain::{Bucket, Timestamp};

/// Columns of a raw export.
pub(crate) const RAW_HEADER: &str = "metric,agent_id,tags,time,value\r\n";
/// Columns of a 1m/5m export.
pub(crate) const BUCKET_HEADER: &str = "metric,agent_id,tags,time,avg,min,max,count\r\n";

/// Appends one field, quoted when it must be.
pub(crate) fn field(out: &mut String, text: &str) {
    if text.contains([',', '"', '\r', '\n']) {
        out.push('"');
        for c in text.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// The fields naming a series, `metric,agent_id,tags,` already quoted, ready to prefix rows.
pub(crate) fn series_prefix(metric: &str, agent: &str, tags_json: &str) -> String {
    let mut out = String::new();
    for text in [metric, agent, tags_json] {
        field(&mut out, text);
        out.push(',');
    }
    out
}

/// Appends a raw row.
pub(crate) fn raw_row(out: &mut String, prefix: &str, at: Timestamp, value: f64) {
    let _ = write!(out, "{prefix}{at},{value}\r\n");
}

/// Appends a bucket row.
pub(crate) fn bucket_row(out: &mut String, prefix: &str, at: Timestamp, b: &Bucket) {
    let _ = write!(out, "{prefix}{at},{},{},{},{}\r\n", b.avg(), b.min, b.max, b.count);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_rfc_4180_requires_it() {
        let cases = [
            ("plain", "plain"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\r\nlines", "\"two\r\nlines\""),
            ("", ""),
        ];
        for (input, expected) in cases {
            let mut out = String::new();
            field(&mut out, input);
            assert_eq!(out, expected, "{input:?}");
        }
    }

    #[test]
    fn rows_end_in_crlf_and_times_are_rfc_3339() {
        let mut out = String::new();
        let prefix = series_prefix("cpu", "h1", r#"{"core":"0"}"#);
        raw_row(&mut out, &prefix, Timestamp::from_millis(1_795_341_600_250), 0.5);
        assert_eq!(out, "cpu,h1,\"{\"\"core\"\":\"\"0\"\"}\",2026-11-22T10:00:00.250Z,0.5\r\n");
        out.clear();
        let b =
            Bucket { count: 4, sum: 10.0, min: 1.0, max: 4.0, last: 4.0, last_at: Timestamp::from_millis(0) };
        bucket_row(&mut out, "m,,{},", Timestamp::from_millis(0), &b);
        assert_eq!(out, "m,,{},1970-01-01T00:00:00.000Z,2.5,1,4,4\r\n");
    }
}
