//! Times `wire::parse_batch` on the body the load generator sends (1,000 samples of 100 series,
//! with agent ids and timestamps): the API parses every request with it, so at a million samples
//! a second its cost is a large share of the API's CPU.
//!
//! `cargo run --release -p microdash-domain --example parse_batch [rounds]`

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::time::{Duration, Instant};

use microdash_domain::Timestamp;
use microdash_domain::wire::{OutgoingSample, ValidationContext, parse_batch};

fn main() {
    let rounds: usize = std::env::args().nth(1).map_or(2_000, |r| r.parse().expect("rounds: a number"));
    let now = 1_795_000_000_000_i64;
    let body: Vec<OutgoingSample> = (0..1_000)
        .map(|i| OutgoingSample {
            metric_name: "loadgen.20261122T180604_b128c85a".into(),
            value: f64::from(i) * 0.25,
            timestamp: Some(now - 10_000 + i64::from(i / 100)),
            agent_id: Some(format!("loadgen-{}", i % 100)),
            tags: Default::default(),
            dedupe_id: None,
        })
        .collect();
    let json = serde_json::to_vec(&body).unwrap();
    let ctx = ValidationContext { now: Timestamp::from_millis(now), max_age: Duration::from_secs(86_400) };
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let samples = parse_batch(&json, &ctx, 10_000).expect("the body is valid");
        assert_eq!(samples.len(), 1_000);
        times.push(start.elapsed());
    }
    times.sort();
    let total: Duration = times.iter().sum();
    let per_sample = total.as_secs_f64() / (rounds * 1_000) as f64;
    println!(
        "parse_batch, {} bytes, 1,000 samples: p50 {:?}, p99 {:?}; {:.0} ns a sample, {:.2} M samples/s on one core",
        json.len(),
        times[rounds / 2],
        times[rounds * 99 / 100],
        per_sample * 1e9,
        1e-6 / per_sample
    );
}
