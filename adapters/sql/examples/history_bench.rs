//! The history benchmark of issue 6, on SQLite and on MariaDB: loads 100 series × 24 h at 1 s
//! (8,640,000 samples) through `insert_batch`, folds them with the rollup job, writes
//! synthesised 1m/5m buckets for the 6 days before, then times through the use cases:
//! - queries of one series: 1 h raw, 24 h at 1m, 7 d at 5m (p50/p99 over 200 runs each);
//! - the CSV export of 24 h raw of one series (rows/s, and the process's resident memory);
//! - the rollup job on the 8.64 M samples (samples/s), and retention chunks (ms each).
//!
//! `cargo run --release -p microdash-adapter-sql --example history_bench [sqlite] [mariadb]`
//! (both when no argument is given; MariaDB at `MICRODASH_TEST_MYSQL_URL`, default
//! `mysql://root@127.0.0.1:3306`, in a database of its own that is dropped afterwards).
#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use microdash_adapter_sql::{MariaDbOptions, MariaDbStore, SqliteOptions, SqliteStore};
use microdash_domain::rollup::{FIVE_MINUTES_MS, MINUTE_MS};
use microdash_domain::sample::SeriesKey;
use microdash_domain::tenant::NewTenant;
use microdash_domain::{
    AgentId, Bucket, MetricName, Resolution, Sample, Tags, TenantSlug, Timestamp, TokenId,
};
use microdash_usecases::ports::{
    AgentRegistry, Clock, Expiring, RetentionStore, RollupProgress, RollupStore, SampleStore, SeriesBucket,
    SeriesFilter, SeriesReader, TenantRepo,
};
use microdash_usecases::query::{QueryOptions, QueryParams};
use microdash_usecases::{
    ExportOptions, ExportService, Principal, QueryService, RetentionOptions, RollupOptions, RollupService,
    Signer,
};
use sqlx::{AssertSqlSafe, Connection, MySqlConnection};

/// 2026-11-22T10:00:00Z: "now" for the whole run.
const NOW: i64 = 1_795_341_600_000;
const SERIES: i64 = 100;
const DAY: i64 = 86_400_000;
const BATCH_SECONDS: i64 = 100;
const RUNS: usize = 200;

/// Every store port the benchmark drives.
trait Store:
    TenantRepo
    + SampleStore
    + SeriesReader
    + RollupStore
    + RollupProgress
    + RetentionStore
    + AgentRegistry
    + 'static
{
}
impl<S> Store for S where
    S: TenantRepo
        + SampleStore
        + SeriesReader
        + RollupStore
        + RollupProgress
        + RetentionStore
        + AgentRegistry
        + 'static
{
}

/// A clock that shows what the benchmark sets.
struct Fixed(std::sync::atomic::AtomicI64);

impl Clock for Fixed {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

#[tokio::main]
async fn main() {
    let mut stores: Vec<String> = std::env::args().skip(1).collect();
    if stores.is_empty() {
        stores = vec!["sqlite".into(), "mariadb".into()];
    }
    for which in stores {
        if which == "sqlite" {
            let dir = tempfile::TempDir::new().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            let store =
                SqliteStore::connect(&SqliteOptions { url, read_connections: 4 }).await.expect("sqlite");
            run("SQLite", Arc::new(store.clone())).await;
            store.close().await;
        } else {
            let base = std::env::var("MICRODASH_TEST_MYSQL_URL")
                .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
            let mut admin = MySqlConnection::connect(&base).await.expect("a MariaDB server");
            let db = format!("md_bench_history_{}", std::process::id());
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE `{db}`"))).execute(&mut admin).await.unwrap();
            let opts = MariaDbOptions { url: format!("{base}/{db}"), max_connections: 8 };
            let store = MariaDbStore::connect(&opts).await.expect("mariadb");
            WATCH_MARIADB.store(true, std::sync::atomic::Ordering::Relaxed);
            run("MariaDB", Arc::new(store.clone())).await;
            store.close().await;
            sqlx::query(AssertSqlSafe(format!("DROP DATABASE `{db}`"))).execute(&mut admin).await.unwrap();
        }
    }
}

fn sample(series: i64, at: i64) -> Sample {
    Sample {
        series: SeriesKey {
            metric: MetricName::new("bench.cpu").unwrap(),
            agent: Some(AgentId::new(format!("host-{series:03}")).unwrap()),
            tags: Tags::empty(),
        },
        value: ((at / 1000 + series) % 100) as f64 + 0.25,
        timestamp: Timestamp::from_millis(at),
        dedupe_id: None,
    }
}

async fn run<S: Store>(name: &str, store: Arc<S>) {
    println!("== {name}");
    let clock = Arc::new(Fixed(std::sync::atomic::AtomicI64::new(NOW)));
    let new = NewTenant { slug: TenantSlug::new("bench").unwrap(), name: "Bench".into() };
    let tenant = store.create(new, Timestamp::from_millis(NOW - 8 * DAY)).await.expect("tenant");
    let who = Principal {
        tenant: tenant.id,
        tenant_slug: tenant.slug.clone(),
        token_id: TokenId::new(1),
        samples_per_minute: u64::MAX,
        retention: tenant.retention,
    };

    // Load: 24 h at 1 s for every series, in time order as live ingest sends it.
    let started = Instant::now();
    let mut from = NOW - DAY;
    while from < NOW {
        let batch: Vec<Sample> = (from..from + BATCH_SECONDS * 1000)
            .step_by(1000)
            .flat_map(|at| (0..SERIES).map(move |s| sample(s, at)))
            .collect();
        store.insert_batch(tenant.id, &batch).await.expect("insert");
        from += BATCH_SECONDS * 1000;
    }
    let load = started.elapsed();
    let raw_rows = SERIES * DAY / 1000;
    println!(
        "load       {raw_rows} samples in {:.1} s ({:.0} rows/s)",
        load.as_secs_f64(),
        raw_rows as f64 / load.as_secs_f64()
    );

    // Fold them with the rollup job.
    let rollups = RollupService::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        clock.clone(),
        RollupOptions::default(),
    );
    let started = Instant::now();
    let cpu = Cpu::now();
    let report = rollups.run_once().await.expect("fold");
    let fold = started.elapsed();
    let fold_cpu = cpu.since();
    println!(
        "fold       {} minutes, {} buckets in {:.1} s ({:.0} samples/s); CPU {:.1} s here + {:.1} s in mariadbd \
         = {:.0} samples per CPU-second",
        report.minutes,
        report.buckets,
        fold.as_secs_f64(),
        raw_rows as f64 / fold.as_secs_f64(),
        fold_cpu.0,
        fold_cpu.1,
        raw_rows as f64 / (fold_cpu.0 + fold_cpu.1)
    );

    // Synthesised rollups for the 6 days before the raw data.
    let ids: Vec<_> = store.series_ids(tenant.id).await.expect("ids");
    let started = Instant::now();
    for (width, resolution) in
        [(MINUTE_MS, Resolution::OneMinute), (FIVE_MINUTES_MS, Resolution::FiveMinutes)]
    {
        let mut chunk: Vec<SeriesBucket> = Vec::new();
        for at in ((NOW - 7 * DAY)..(NOW - DAY)).step_by(width as usize) {
            for id in &ids {
                let b = Bucket {
                    count: 60,
                    sum: 60.0 * 50.0,
                    min: 0.0,
                    max: 99.0,
                    last: 50.0,
                    last_at: Timestamp::from_millis(at + width - 1000),
                };
                chunk.push((*id, Timestamp::from_millis(at), b));
            }
            if chunk.len() >= 20_000 {
                store.write_buckets(tenant.id, resolution, &chunk).await.expect("buckets");
                chunk.clear();
            }
        }
        store.write_buckets(tenant.id, resolution, &chunk).await.expect("buckets");
    }
    println!("synthesise 6 days of 1m and 5m buckets in {:.1} s", started.elapsed().as_secs_f64());

    // Queries of one series.
    let query = QueryService::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        clock.clone(),
        QueryOptions::default(),
    );
    for (label, back, resolution, points) in [
        ("1 h raw", 3_600_000, "raw", 3_600),
        ("24 h at 1m", DAY, "1m", 1_440),
        ("7 d at 5m", 7 * DAY, "5m", 2_016),
    ] {
        let params = QueryParams {
            name: "bench.cpu".into(),
            start: Some(Timestamp::from_millis(NOW - back)),
            end: Some(Timestamp::from_millis(NOW - 1)),
            agent_id: Some("host-007".into()),
            resolution: Some(resolution.into()),
            max_points: Some(10_000),
            ..Default::default()
        };
        let mut times = Vec::with_capacity(RUNS);
        let mut cpu = Cpu::now();
        for run in 0..RUNS + 10 {
            if run == 10 {
                cpu = Cpu::now();
            }
            let started = Instant::now();
            let out = query.query(&who, params.clone()).await.expect("query");
            if run >= 10 {
                times.push(started.elapsed());
            }
            assert_eq!(out.total, points, "{label}: every point, no reduction");
        }
        let (here, db) = cpu.since();
        times.sort();
        println!(
            "query      {label:<11} {points} points: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms; CPU {:.2} ms/query here + {:.2} in mariadbd",
            ms(times[RUNS / 2]),
            ms(times[RUNS * 9 / 10]),
            ms(times[RUNS * 99 / 100]),
            here * 1000.0 / RUNS as f64,
            db * 1000.0 / RUNS as f64
        );
    }

    // CSV export of 24 h raw of one series.
    let export = ExportService::new(
        store.clone(),
        store.clone(),
        Signer::new(b"bench"),
        clock.clone(),
        QueryOptions::default(),
        ExportOptions::default(),
    );
    let params = QueryParams {
        name: "bench.cpu".into(),
        start: Some(Timestamp::from_millis(NOW - DAY)),
        end: Some(Timestamp::from_millis(NOW - 1)),
        agent_id: Some("host-007".into()),
        resolution: Some("raw".into()),
        ..Default::default()
    };
    for _ in 0..2 {
        let link = export.create(&who, params.clone()).await.expect("link");
        let rss_before = rss_kib();
        let started = Instant::now();
        let mut body = export.open(&link.id, &link.signature).await.expect("open").body;
        let (mut rows, mut bytes, mut peak) = (0usize, 0usize, rss_before);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.expect("chunk");
            rows += chunk.matches('\n').count();
            bytes += chunk.len();
            peak = peak.max(rss_kib());
        }
        let took = started.elapsed();
        println!(
            "export     24 h raw: {} rows, {} MB in {:.2} s = {:.0} rows/s; RSS {} MiB before, peak {} MiB (+{} KiB)",
            rows - 1,
            bytes >> 20,
            took.as_secs_f64(),
            (rows - 1) as f64 / took.as_secs_f64(),
            rss_before >> 10,
            peak >> 10,
            peak - rss_before
        );
    }

    // Retention: an hour later, the oldest hour of raw data expires, in chunks of the retention job's default size.
    clock.0.store(NOW + 3_600_000, std::sync::atomic::Ordering::SeqCst);
    rollups.run_once().await.expect("fold");
    let (mut cursor, mut chunks, mut deleted) = (None, Vec::new(), 0);
    loop {
        let started = Instant::now();
        let r = store
            .delete_expired(
                tenant.id,
                Expiring::Raw,
                Timestamp::from_millis(NOW - DAY + 3_600_000),
                cursor,
                RetentionOptions::default().chunk_rows,
            )
            .await
            .expect("expire");
        chunks.push(started.elapsed());
        deleted += r.deleted;
        match r.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    chunks.sort();
    let (p50, p99, max) =
        (chunks[chunks.len() / 2], chunks[chunks.len() * 99 / 100], chunks[chunks.len() - 1]);
    println!(
        "retention  {deleted} raw rows in {} chunks of ≤ {}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        chunks.len(),
        RetentionOptions::default().chunk_rows,
        ms(p50),
        ms(p99),
        ms(max)
    );
    let left = store
        .series(
            tenant.id,
            &SeriesFilter { metric: MetricName::new("bench.cpu").unwrap(), agent: None, tags: Tags::empty() },
        )
        .await
        .unwrap();
    assert_eq!(left.len(), SERIES as usize);
}

/// Whether the store under test is the local MariaDB server, whose CPU time then counts too
/// (other clients of the same server count along: run it on a quiet server).
static WATCH_MARIADB: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// CPU time used so far by this process and by the MariaDB server (when one runs here), from
/// `/proc`: wall-clock percentiles on a busy machine include waiting for a core, CPU time does
/// not.
struct Cpu(f64, f64);

impl Cpu {
    fn now() -> Self {
        let db = if WATCH_MARIADB.load(std::sync::atomic::Ordering::Relaxed) {
            mariadbd().map_or(0.0, |pid| cpu_seconds(&pid))
        } else {
            0.0
        };
        Cpu(cpu_seconds("self"), db)
    }

    /// Seconds of CPU since `self`: (this process, mariadbd).
    fn since(&self) -> (f64, f64) {
        let now = Cpu::now();
        (now.0 - self.0, now.1 - self.1)
    }
}

/// utime + stime of `/proc/<pid>`, in seconds (at the usual 100 ticks per second).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// The pid of a local `mariadbd`, if any.
fn mariadbd() -> Option<String> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid = e.file_name().into_string().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (comm.trim() == "mariadbd").then_some(pid)
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Resident memory of this process, KiB.
fn rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
