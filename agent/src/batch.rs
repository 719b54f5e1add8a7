//! Turns collected [`Point`]s into the wire batch: [`OutgoingSample`]s that carry the
//! collection timestamp and a time-ordered dedupe id.
//!
//! The dedupe id is `{agent_id}-{collection_ts_ms}-{index}`: stable for a given batch (a replay
//! from the spool re-sends the same bytes, so the server can drop duplicates), and increasing
//! with time, which keeps the server's unique index append-mostly (random ids cost SQLite about
//! 3× more). `index` is the sample's position in the batch.

use std::collections::BTreeMap;

use microdash_domain::wire::OutgoingSample;

use crate::collect::Point;

/// Builds the batch for one collection.
pub fn to_samples(
    points: Vec<Point>,
    agent_id: &str,
    collected_ms: i64,
    static_tags: &BTreeMap<String, String>,
) -> Vec<OutgoingSample> {
    points
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let mut tags = static_tags.clone();
            tags.extend(p.tags.into_iter().map(|(k, v)| (k.to_owned(), v)));
            OutgoingSample {
                metric_name: p.name.to_owned(),
                value: p.value,
                timestamp: Some(collected_ms),
                agent_id: Some(agent_id.to_owned()),
                tags,
                dedupe_id: Some(format!("{agent_id}-{collected_ms}-{i}")),
            }
        })
        .collect()
}

/// The MQTT payload of a batch: one JSON array.
pub fn to_payload(samples: &[OutgoingSample]) -> Vec<u8> {
    serde_json::to_vec(samples).unwrap_or_else(|_| b"[]".to_vec())
}

/// The batch as JSON lines, one sample per line (`--stdout`).
pub fn to_json_lines(samples: &[OutgoingSample]) -> String {
    let mut s = String::new();
    for sample in samples {
        if let Ok(line) = serde_json::to_string(sample) {
            s.push_str(&line);
            s.push('\n');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use microdash_domain::Timestamp;
    use microdash_domain::wire::{ValidationContext, parse_batch};

    use super::*;

    const TS: i64 = 1_795_000_000_123;

    fn points() -> Vec<Point> {
        vec![
            Point::new("system.load.1m", 0.5),
            Point::tagged("system.cpu.usage_pct", 12.5, "core", "0"),
            Point::tagged("system.cpu.usage_pct", 13.5, "core", "1"),
        ]
    }

    #[test]
    fn dedupe_ids_are_agent_timestamp_and_index_so_they_sort_by_time() {
        let tags = BTreeMap::from([("site".to_owned(), "ams".to_owned())]);
        let s = to_samples(points(), "web-1", TS, &tags);
        let ids: Vec<_> = s.iter().map(|s| s.dedupe_id.clone().unwrap()).collect();
        assert_eq!(ids, vec!["web-1-1795000000123-0", "web-1-1795000000123-1", "web-1-1795000000123-2"]);
        assert_eq!(s[1].tags.get("core").map(String::as_str), Some("0"));
        assert_eq!(s[1].tags.get("site").map(String::as_str), Some("ams"));
        assert!(s.iter().all(|s| s.timestamp == Some(TS)));
    }

    #[test]
    fn the_payload_is_accepted_by_the_servers_wire_validation() {
        let payload = to_payload(&to_samples(points(), "web-1", TS, &BTreeMap::new()));
        let ctx = ValidationContext { now: Timestamp::from_millis(TS), max_age: Duration::from_secs(86_400) };
        let parsed = parse_batch(&payload, &ctx, 10_000).expect("valid batch");
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0].dedupe_id.as_ref().unwrap().as_str(), "web-1-1795000000123-0");
    }

    #[test]
    fn json_lines_have_one_sample_per_line() {
        let text = to_json_lines(&to_samples(points(), "a", TS, &BTreeMap::new()));
        assert_eq!(text.lines().count(), 3);
        let first: OutgoingSample = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first.metric_name, "system.load.1m");
    }
}
