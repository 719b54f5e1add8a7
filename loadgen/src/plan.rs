//! What is sent: which series and timestamp every sample gets, and the request bodies.
//!
//! A sample is identified by (metric, agent, tags, timestamp), so two samples of one series at
//! the same millisecond would replace each other and the run could never count them all. The
//! plan gives each batch its own range of milliseconds, `ceil(batch / series)` wide, and
//! spreads the batch over the series inside it: sample `i` goes to series `i % series` at
//! `base + batch_index * width + (i % batch) / series`. Every (series, timestamp) is then
//! unique, and one batch is exactly what a query over its range returns, which is what the
//! visibility probes rely on.

use std::time::Duration;

/// Age of the newest planned timestamp when the run starts: old enough that server clock skew
/// never makes a sample "from the future", recent enough to show on a dashboard's last hour.
const NEWEST_AGE: Duration = Duration::from_secs(60);

/// Longest span of timestamps a run may cover. Raw points are kept one day by default, so a
/// plan reaching further back would have its oldest samples swept while it is being counted.
const MAX_SPAN: Duration = Duration::from_secs(12 * 3600);

/// Where every sample of the run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Timestamp of the first batch's first millisecond.
    base_ms: i64,
    samples: u64,
    batch: u64,
    series: u64,
    /// Milliseconds owned by each batch.
    width: u64,
}

/// One request's samples: indexes `first..first + len`, timestamps `start_ms..=end_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchSpan {
    pub first: u64,
    pub len: u64,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Plan {
    /// Plans `samples` samples in batches of `batch` over `series` series, ending
    /// [`NEWEST_AGE`] before `now_ms`.
    ///
    /// # Errors
    /// When the timestamps would span more than [`MAX_SPAN`], saying which flags to raise.
    pub(crate) fn new(samples: u64, batch: u64, series: u64, now_ms: i64) -> anyhow::Result<Self> {
        let width = batch.div_ceil(series);
        let mut plan = Self { base_ms: 0, samples, batch, series, width };
        let span = plan.batches().saturating_mul(width);
        if span > MAX_SPAN.as_millis() as u64 {
            anyhow::bail!(
                "{samples} samples over {series} series in batches of {batch} need timestamps spread over \
                 {} hours, more than the {} the raw retention allows; raise --series (or --batch up to \
                 --series)",
                span / 3_600_000,
                MAX_SPAN.as_secs() / 3600,
            );
        }
        plan.base_ms = now_ms - span as i64 - NEWEST_AGE.as_millis() as i64;
        Ok(plan)
    }

    /// Number of requests the full plan takes.
    pub(crate) fn batches(&self) -> u64 {
        self.samples.div_ceil(self.batch)
    }

    /// Number of series.
    pub(crate) fn series(&self) -> u64 {
        self.series
    }

    /// Samples in all batches before batch `j`: what the pacing schedules by.
    pub(crate) fn samples_before(&self, j: u64) -> u64 {
        (j * self.batch).min(self.samples)
    }

    /// The samples and timestamps of batch `j`.
    pub(crate) fn batch(&self, j: u64) -> BatchSpan {
        let first = j * self.batch;
        let len = self.batch.min(self.samples - first);
        let start_ms = self.base_ms + (j * self.width) as i64;
        BatchSpan { first, len, start_ms, end_ms: start_ms + len.div_ceil(self.series) as i64 - 1 }
    }

    /// Series index and timestamp of sample `i`.
    pub(crate) fn sample(&self, i: u64) -> (u64, i64) {
        let (j, slot) = (i / self.batch, i % self.batch);
        (i % self.series, self.base_ms + (j * self.width + slot / self.series) as i64)
    }

    /// First and last timestamp of the whole plan, bracketing everything the run can send.
    pub(crate) fn range(&self) -> (i64, i64) {
        (self.base_ms, self.batch(self.batches() - 1).end_ms)
    }
}

/// Builds request bodies by writing the JSON directly: the names are rendered once, and a
/// sample is three numbers written into the buffer. Serialising sample structs cost the load
/// generator half as much CPU as the API spent on the same samples, and both share the cores
/// of one machine in the benchmark.
pub(crate) struct BodyBuilder {
    /// `{"metric_name":"<metric>","value":`
    head: String,
    /// `,"agent_id":"loadgen-<s>"}` or `...","dedupe_id":"<metric>-` for each series.
    agents: Vec<String>,
    /// The metric name, for dedupe ids.
    metric: String,
    dedupe: bool,
    last_len: usize,
}

impl BodyBuilder {
    pub(crate) fn new(metric: &str, series: u64, dedupe: bool) -> Self {
        let quoted = serde_json::to_string(metric).expect("a string always serialises");
        let agents = (0..series)
            .map(|s| {
                let tail = if dedupe { ",\"dedupe_id\":\"" } else { "}" };
                format!(",\"agent_id\":\"loadgen-{s}\"{tail}")
            })
            .collect();
        Self {
            head: format!("{{\"metric_name\":{quoted},\"value\":"),
            agents,
            metric: quoted[1..quoted.len() - 1].to_owned(),
            dedupe,
            last_len: 0,
        }
    }

    /// The JSON array of the samples of `span`.
    pub(crate) fn build(&mut self, plan: &Plan, span: BatchSpan) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.last_len + self.last_len / 8);
        body.push(b'[');
        for i in span.first..span.first + span.len {
            if i != span.first {
                body.push(b',');
            }
            let (series, ts) = plan.sample(i);
            body.extend_from_slice(self.head.as_bytes());
            // The value is (i % 10,000) / 100, written as its exact decimal, which parses back
            // to that very f64.
            let hundredths = i % 10_000;
            put_int(&mut body, hundredths / 100);
            body.push(b'.');
            body.push(b'0' + (hundredths % 100 / 10) as u8);
            body.push(b'0' + (hundredths % 10) as u8);
            body.extend_from_slice(b",\"timestamp\":");
            if ts < 0 {
                body.push(b'-');
            }
            put_int(&mut body, ts.unsigned_abs());
            body.extend_from_slice(self.agents[series as usize].as_bytes());
            if self.dedupe {
                // The metric name is unique per run, so `<metric>-<index>` is unique too.
                body.extend_from_slice(self.metric.as_bytes());
                body.push(b'-');
                put_int(&mut body, i);
                body.extend_from_slice(b"\"}");
            }
        }
        body.push(b']');
        self.last_len = body.len();
        body
    }
}

/// Writes `n` in decimal.
fn put_int(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use microdash_domain::Timestamp;
    use microdash_domain::wire::{ValidationContext, parse_batch};

    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn every_sample(plan: &Plan) -> Vec<(u64, u64, i64)> {
        (0..plan.batches())
            .flat_map(|j| {
                let span = plan.batch(j);
                (span.first..span.first + span.len).map(move |i| (j, i))
            })
            .map(|(j, i)| {
                let (s, ts) = plan.sample(i);
                (j, s, ts)
            })
            .collect()
    }

    #[test]
    fn every_series_and_timestamp_pair_is_unique_and_inside_its_batch_range() {
        for (samples, batch, series) in
            [(100, 7, 3), (1000, 10, 100), (999, 1000, 100), (50, 1, 1), (64, 8, 8)]
        {
            let plan = Plan::new(samples, batch, series, NOW).unwrap();
            let all = every_sample(&plan);
            assert_eq!(all.len() as u64, samples);
            let pairs: HashSet<_> = all.iter().map(|&(_, s, ts)| (s, ts)).collect();
            assert_eq!(pairs.len() as u64, samples, "{samples}/{batch}/{series}: a pair repeats");
            for &(j, s, ts) in &all {
                let span = plan.batch(j);
                assert!((span.start_ms..=span.end_ms).contains(&ts), "sample outside its batch range");
                assert!(s < series);
            }
            for j in 1..plan.batches() {
                assert!(plan.batch(j).start_ms > plan.batch(j - 1).end_ms, "batch ranges overlap");
            }
        }
    }

    #[test]
    fn a_batch_owns_exactly_its_samples_in_its_range() {
        let plan = Plan::new(1000, 30, 7, NOW).unwrap();
        let all = every_sample(&plan);
        for j in 0..plan.batches() {
            let span = plan.batch(j);
            let in_range = all.iter().filter(|&&(_, _, ts)| (span.start_ms..=span.end_ms).contains(&ts));
            assert_eq!(in_range.count() as u64, span.len);
        }
    }

    #[test]
    fn default_and_large_runs_end_a_minute_ago_within_the_raw_retention() {
        for samples in [2_000_000, 10_000_000] {
            let plan = Plan::new(samples, 1000, 100, NOW).unwrap();
            let (start, end) = plan.range();
            assert_eq!(end, NOW - 60_000 - 1);
            assert_eq!(end - start + 1, (samples / 100) as i64);
        }
        let tiny_batches = Plan::new(10_000_000, 1, 100, NOW).unwrap();
        assert_eq!(tiny_batches.range().1 - tiny_batches.range().0 + 1, 10_000_000);
    }

    #[test]
    fn plans_spanning_more_than_the_raw_retention_are_refused() {
        let e = Plan::new(100_000_000_000, 1000, 100, NOW).unwrap_err();
        assert!(e.to_string().contains("--series"), "{e}");
    }

    #[test]
    fn pacing_schedules_by_samples_sent_before_the_batch() {
        let plan = Plan::new(2500, 1000, 100, NOW).unwrap();
        assert_eq!(plan.batches(), 3);
        assert_eq!([0, 1, 2, 3].map(|j| plan.samples_before(j)), [0, 1000, 2000, 2500]);
        assert_eq!(plan.batch(2).len, 500);
    }

    #[test]
    fn values_are_written_as_their_exact_decimals() {
        let plan = Plan::new(20_000, 10_000, 100, NOW).unwrap();
        let body = String::from_utf8(BodyBuilder::new("m", 100, false).build(&plan, plan.batch(0))).unwrap();
        let values: Vec<f64> = serde_json::from_str::<Vec<serde_json::Value>>(&body)
            .unwrap()
            .iter()
            .map(|item| item["value"].as_f64().unwrap())
            .collect();
        assert_eq!(values.len(), 10_000);
        for (i, v) in values.iter().enumerate() {
            assert_eq!(*v, i as f64 / 100.0, "sample {i}");
        }
        assert!(body.starts_with(r#"[{"metric_name":"m","value":0.00,"timestamp":"#), "{}", &body[..80]);
    }

    #[test]
    fn bodies_parse_back_through_the_server_validation() {
        let plan = Plan::new(25, 10, 4, NOW).unwrap();
        let mut builder = BodyBuilder::new("loadgen.test", 4, true);
        let ctx =
            ValidationContext { now: Timestamp::from_millis(NOW), max_age: Duration::from_secs(30 * 86_400) };
        let mut ids = HashSet::new();
        for j in [0, 2, 1] {
            let span = plan.batch(j);
            let samples = parse_batch(&builder.build(&plan, span), &ctx, 10_000).unwrap();
            assert_eq!(samples.len() as u64, span.len);
            for (i, s) in (span.first..).zip(&samples) {
                let (series, ts) = plan.sample(i);
                assert_eq!(s.timestamp.as_millis(), ts);
                assert_eq!(s.value, (i % 10_000) as f64 / 100.0);
                assert_eq!(
                    s.series.agent.as_ref().map(|a| a.as_str().to_owned()),
                    Some(format!("loadgen-{series}"))
                );
                assert!(ids.insert(s.dedupe_id.clone().unwrap().as_str().to_owned()));
            }
        }
    }
}
