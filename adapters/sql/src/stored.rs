//! How domain values are stored in rows and read back, the same on SQLite and MariaDB: the
//! stored forms of a series' agent and tags, grouping rows into the series the ports return,
//! and (in the submodules) the rows of the other tables with their conversions. No I/O and no
//! SQL here: statements live in `ports/`, what differs between the dialects in `dialect`.
//!
//! # Layout
//! - `rows`: tenant, token and agent rows.
//! - `buckets`: rollup bucket rows and the late-sample marks a batch makes.

pub(crate) mod buckets;
pub(crate) mod rows;

use std::collections::{BTreeMap, HashMap, HashSet};

use microdash_domain::sample::SeriesKey;
use microdash_domain::{AgentId, MetricName, Sample, Tags, Timestamp};
use microdash_usecases::ports::{RawSeries, SeriesFilter, SeriesId, StoreError, StoredSeries};

use crate::error::corrupt;

/// Stored form of "no agent".
const NO_AGENT: &str = "";

/// The stored form of a sample's agent: its id, or `''` for none.
pub(crate) fn encode_agent(agent: Option<&AgentId>) -> &str {
    agent.map_or(NO_AGENT, AgentId::as_str)
}

/// Reads a stored agent back.
pub(crate) fn decode_agent(stored: String) -> Result<Option<AgentId>, StoreError> {
    if stored == NO_AGENT {
        return Ok(None);
    }
    AgentId::new(stored).map(Some).map_err(|e| corrupt("series agent id", e))
}

/// The canonical JSON of a tag set: keys sorted (they are, in a `BTreeMap`), `{}` when empty,
/// so equal tag sets are equal strings and the unique index can tell series apart.
pub(crate) fn encode_tags(tags: &Tags) -> Result<String, StoreError> {
    if tags.is_empty() {
        return Ok("{}".to_owned());
    }
    serde_json::to_string(tags.as_map()).map_err(|e| StoreError::unavailable("encoding series tags", e))
}

/// Reads stored tags back.
pub(crate) fn decode_tags(stored: &str) -> Result<Tags, StoreError> {
    let map: BTreeMap<String, String> =
        serde_json::from_str(stored).map_err(|e| corrupt("series tags", e))?;
    Tags::new(map).map_err(|e| corrupt("series tags", e))
}

/// The samples of a batch that carry a dedupe id, as `(position, id, timestamp ms)`, and the
/// positions (ascending) of repeats of an id already seen earlier in the same batch, which are
/// duplicates whatever the store holds: the first occurrence wins.
pub(crate) fn dedupe_candidates(batch: &[Sample]) -> (Vec<(usize, &str, i64)>, Vec<usize>) {
    let mut seen_in_batch: HashSet<&str> = HashSet::new();
    let mut repeats = Vec::new();
    let mut candidates = Vec::new();
    for (i, sample) in batch.iter().enumerate() {
        let Some(id) = &sample.dedupe_id else { continue };
        if seen_in_batch.insert(id.as_str()) {
            candidates.push((i, id.as_str(), sample.timestamp.as_millis()));
        } else {
            repeats.push(i);
        }
    }
    (candidates, repeats)
}

/// Groups a page of points by series: only series with points, ordered by agent (none first)
/// then tags, each series' points in time order (the page is sorted by time).
pub(crate) fn group_points(
    series_rows: Vec<(i64, String, String)>,
    points: Vec<(i64, i64, f64)>,
) -> Result<Vec<RawSeries>, StoreError> {
    let mut position: HashMap<i64, usize> = HashMap::with_capacity(series_rows.len());
    let mut names = Vec::with_capacity(series_rows.len());
    for (id, agent, tags) in series_rows {
        position.insert(id, names.len());
        names.push((decode_agent(agent)?, decode_tags(&tags)?));
    }
    let mut grouped: Vec<Vec<(Timestamp, f64)>> = vec![Vec::new(); names.len()];
    for (series_id, ts, value) in points {
        let Some(&at) = position.get(&series_id) else {
            return Err(StoreError::Unavailable {
                message: format!("series {series_id} vanished during a query"),
                source: None,
            });
        };
        grouped[at].push((Timestamp::from_millis(ts), value));
    }
    let mut series: Vec<RawSeries> = names
        .into_iter()
        .zip(grouped)
        .filter(|(_, points)| !points.is_empty())
        .map(|((agent, tags), points)| RawSeries { agent, tags, points })
        .collect();
    series.sort_by(|a, b| (&a.agent, &a.tags).cmp(&(&b.agent, &b.tags)));
    Ok(series)
}

/// The series rows (id, agent, tags) carrying every one of `tags`.
pub(crate) fn with_tags(
    rows: Vec<(i64, String, String)>,
    tags: &Tags,
) -> Result<Vec<(i64, String, String)>, StoreError> {
    if tags.is_empty() {
        return Ok(rows);
    }
    let mut kept = Vec::with_capacity(rows.len());
    for row in rows {
        let stored = decode_tags(&row.2)?;
        if tags.iter().all(|(k, v)| stored.as_map().get(k).is_some_and(|x| x == v)) {
            kept.push(row);
        }
    }
    Ok(kept)
}

/// Groups `(series, item)` rows by series, in the order of `ids` (series without rows left
/// out); within a series, rows keep their order.
pub(crate) fn group_by_series<T>(
    ids: &[SeriesId],
    rows: impl IntoIterator<Item = (SeriesId, T)>,
) -> Vec<(SeriesId, Vec<T>)> {
    let mut by_id: HashMap<SeriesId, Vec<T>> = HashMap::new();
    for (id, item) in rows {
        by_id.entry(id).or_default().push(item);
    }
    ids.iter().filter_map(|id| by_id.remove(id).map(|items| (*id, items))).collect()
}

/// Decodes series rows of `filter`'s metric, keeps those with its tags, and orders them by
/// agent (none first) then tags.
pub(crate) fn selected(
    filter: &SeriesFilter,
    rows: Vec<(i64, String, String)>,
) -> Result<Vec<StoredSeries>, StoreError> {
    let mut found = Vec::with_capacity(rows.len());
    for (id, agent, tags) in rows {
        let key = SeriesKey {
            metric: filter.metric.clone(),
            agent: decode_agent(agent)?,
            tags: decode_tags(&tags)?,
        };
        if filter.matches(&key) {
            found.push(StoredSeries { id: SeriesId(id), key });
        }
    }
    found.sort_by(|a, b| (&a.key.agent, &a.key.tags).cmp(&(&b.key.agent, &b.key.tags)));
    Ok(found)
}

/// Decodes `(agent, metric)` rows.
pub(crate) fn agent_metric_pairs(
    rows: Vec<(String, String)>,
) -> Result<Vec<(AgentId, MetricName)>, StoreError> {
    rows.into_iter()
        .map(|(a, m)| {
            Ok((
                AgentId::new(a).map_err(|e| corrupt("agent id", e))?,
                MetricName::new(m).map_err(|e| corrupt("metric name", e))?,
            ))
        })
        .collect()
}

/// Converts a count or quota to a signed 64-bit column value, saturating: 2^63 is "unlimited".
pub(crate) fn to_i64(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use microdash_domain::sample::SeriesKey;
    use microdash_domain::{DedupeId, MetricName};

    use super::*;

    #[test]
    fn repeats_of_a_dedupe_id_within_a_batch_are_duplicates_and_the_first_wins() {
        let sample = |id: Option<&str>, ts: i64| Sample {
            series: SeriesKey { metric: MetricName::new("m").unwrap(), agent: None, tags: Tags::empty() },
            value: 0.0,
            timestamp: Timestamp::from_millis(ts),
            dedupe_id: id.map(|i| DedupeId::new(i).unwrap()),
        };
        let batch = [sample(Some("a"), 1), sample(None, 2), sample(Some("b"), 3), sample(Some("a"), 4)];
        let (candidates, repeats) = dedupe_candidates(&batch);
        assert_eq!(candidates, vec![(0, "a", 1), (2, "b", 3)]);
        assert_eq!(repeats, vec![3]);
    }

    #[test]
    fn tags_round_trip_through_their_canonical_json() {
        let map = BTreeMap::from([("mount".to_owned(), "/".to_owned()), ("core".to_owned(), "0".to_owned())]);
        let tags = Tags::new(map).unwrap();
        let json = encode_tags(&tags).unwrap();
        assert_eq!(json, r#"{"core":"0","mount":"/"}"#);
        assert_eq!(decode_tags(&json).unwrap(), tags);
        assert_eq!(encode_tags(&Tags::empty()).unwrap(), "{}");
        assert_eq!(decode_tags("{}").unwrap(), Tags::empty());
    }

    #[test]
    fn the_empty_agent_id_means_no_agent() {
        assert_eq!(encode_agent(None), "");
        assert_eq!(decode_agent(String::new()).unwrap(), None);
        let agent = AgentId::new("h1").unwrap();
        assert_eq!(decode_agent(encode_agent(Some(&agent)).to_owned()).unwrap(), Some(agent));
    }

    #[test]
    fn series_rows_are_kept_when_they_carry_every_tag_asked_for() {
        let row = |id: i64, tags: &str| (id, String::new(), tags.to_owned());
        let rows = vec![row(1, "{}"), row(2, r#"{"core":"0"}"#), row(3, r#"{"core":"0","mount":"/"}"#)];
        let core = Tags::new(BTreeMap::from([("core".to_owned(), "0".to_owned())])).unwrap();
        let kept: Vec<i64> = with_tags(rows.clone(), &core).unwrap().into_iter().map(|r| r.0).collect();
        assert_eq!(kept, vec![2, 3]);
        assert_eq!(with_tags(rows, &Tags::empty()).unwrap().len(), 3);
    }

    #[test]
    fn rows_are_grouped_in_the_order_asked_for() {
        let rows = vec![(SeriesId(2), 'a'), (SeriesId(1), 'b'), (SeriesId(2), 'c')];
        let grouped = group_by_series(&[SeriesId(1), SeriesId(3), SeriesId(2)], rows);
        assert_eq!(grouped, vec![(SeriesId(1), vec!['b']), (SeriesId(2), vec!['a', 'c'])]);
    }
}
