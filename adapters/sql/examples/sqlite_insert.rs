//! Measures `SqliteStore::insert_batch`: 1,000,000 samples in 1,000-sample batches over 100
//! series, each run on a fresh database file in a temporary directory:
//! - `plain`: no dedupe ids;
//! - `uuid`: a random-looking UUID-like dedupe id on every sample (the worst case for the
//!   dedupe B-tree: every batch touches ~1,000 random pages);
//! - `sequential`: a per-agent sequence number as the dedupe id on every sample
//!   (`host-007-000000012345`, what an agent with a counter or UUIDv7 ids would send).
//!
//! `cargo run --release -p microdash-adapter-sql --example sqlite_insert [plain|uuid|sequential]...`
//! (all three when no argument is given).
#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::time::{Duration, Instant};

use microdash_adapter_sql::{SqliteOptions, SqliteStore};
use microdash_domain::sample::SeriesKey;
use microdash_domain::tenant::NewTenant;
use microdash_domain::{AgentId, DedupeId, MetricName, Sample, Tags, TenantSlug, Timestamp};
use microdash_usecases::ports::{RawQuery, SampleStore, TenantRepo};

const SAMPLES: usize = 1_000_000;
const BATCH: usize = 1_000;
const SERIES: usize = 100;
const T0: i64 = 1_795_000_000_000;

#[tokio::main]
async fn main() {
    let mut modes: Vec<String> = std::env::args().skip(1).collect();
    if modes.is_empty() {
        modes = vec!["plain".into(), "uuid".into(), "sequential".into()];
    }
    for mode in modes {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = SqliteStore::connect(&SqliteOptions { url, read_connections: 2 }).await.expect("connect");
        let slug = TenantSlug::new("bench").unwrap();
        let tenant = store
            .create(NewTenant { slug, name: "Bench".into() }, Timestamp::from_millis(T0))
            .await
            .expect("tenant")
            .id;
        let keys: Vec<SeriesKey> = (0..SERIES)
            .map(|s| SeriesKey {
                metric: MetricName::new("bench.value").unwrap(),
                agent: Some(AgentId::new(format!("host-{s:03}")).unwrap()),
                tags: Tags::empty(),
            })
            .collect();

        let mut in_store = Duration::ZERO;
        let wall = Instant::now();
        for b in 0..SAMPLES / BATCH {
            let batch: Vec<Sample> = (b * BATCH..(b + 1) * BATCH)
                .map(|n| Sample {
                    series: keys[n % SERIES].clone(),
                    value: n as f64 * 0.5,
                    timestamp: Timestamp::from_millis(T0 + (n / SERIES) as i64),
                    dedupe_id: dedupe_id(&mode, n).map(|id| DedupeId::new(id).unwrap()),
                })
                .collect();
            let started = Instant::now();
            let inserted = store.insert_batch(tenant, &batch).await.expect("insert");
            in_store += started.elapsed();
            assert_eq!(inserted.stored, BATCH);
        }
        let wall = wall.elapsed();
        if mode == "plain" {
            time_queries(&store, tenant).await;
        }
        store.close().await;
        let size_mb =
            std::fs::metadata(dir.path().join("bench.db")).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
        println!(
            "{mode:<10}  {SAMPLES} samples in {:.2} s in insert_batch ({:.0} rows/s), {:.2} s wall ({:.0} rows/s), file {size_mb:.0} MB",
            in_store.as_secs_f64(),
            SAMPLES as f64 / in_store.as_secs_f64(),
            wall.as_secs_f64(),
            SAMPLES as f64 / wall.as_secs_f64(),
        );
    }
}

/// Times two raw queries on the freshly written data: one series over its whole range, and
/// the first page of all 100 series (which has to count all 1,000,000 points for `total`).
async fn time_queries(store: &SqliteStore, tenant: microdash_domain::TenantId) {
    for agent in
        [Some(AgentId::new("host-001").unwrap()), Some(AgentId::new("host-002").unwrap()), None, None]
    {
        let query = RawQuery {
            metric: MetricName::new("bench.value").unwrap(),
            agent: agent.clone(),
            tags: Tags::empty(),
            start: Timestamp::from_millis(T0),
            end: Timestamp::from_millis(T0 + (SAMPLES / SERIES) as i64),
            limit: 10_000,
        };
        let started = Instant::now();
        let result = store.query_raw(tenant, &query).await.expect("query");
        let points: usize = result.series.iter().map(|s| s.points.len()).sum();
        println!(
            "query {:<9} {points} points of {} in {:.1} ms",
            agent.as_ref().map_or("all", AgentId::as_str),
            result.total,
            started.elapsed().as_secs_f64() * 1e3
        );
    }
}

/// The dedupe id of the `n`th sample in `mode`.
fn dedupe_id(mode: &str, n: usize) -> Option<String> {
    match mode {
        "plain" => None,
        "uuid" => Some(uuid_like(n as u64)),
        "sequential" => Some(format!("host-{:03}-{:012}", n % SERIES, n / SERIES)),
        other => panic!("unknown mode '{other}': use plain, uuid or sequential"),
    }
}

/// A random-looking 36-character id, like the UUIDs clients send: spread over the key space
/// rather than appended, which is the harder case for the dedupe B-tree.
fn uuid_like(n: u64) -> String {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let (hi, lo) = (mix(n), mix(n ^ 0xdead_beef));
    let hex = format!("{hi:016x}{lo:016x}");
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}
