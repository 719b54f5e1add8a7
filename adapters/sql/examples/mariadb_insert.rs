//! Measures `MariaDbStore::insert_batch`: 1,000,000 samples in 1,000-sample batches over 100
//! series, each run in a fresh database that is dropped afterwards:
//! - `plain`: no dedupe ids;
//! - `sequential`: a time-ordered dedupe id on every sample (`host-007-000000012345`, what
//!   an agent with a counter or UUIDv7 ids would send);
//!
//! each with 1 and with 4 writers (tasks calling `insert_batch` at once, one pool connection
//! each). `--trx-commit-2` runs everything again with `innodb_flush_log_at_trx_commit=2`
//! (needs SUPER; restored afterwards).
//!
//! `MICRODASH_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306 cargo run --release -p
//! microdash-adapter-sql --example mariadb_insert [--trx-commit-2]`
#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::time::Instant;

use microdash_adapter_sql::{MariaDbOptions, MariaDbStore};
use microdash_domain::sample::SeriesKey;
use microdash_domain::tenant::NewTenant;
use microdash_domain::{AgentId, DedupeId, MetricName, Sample, Tags, TenantId, TenantSlug, Timestamp};
use microdash_usecases::ports::{SampleStore, TenantRepo};
use sqlx::{AssertSqlSafe, Connection, MySqlConnection};

const SAMPLES: usize = 1_000_000;
const BATCH: usize = 1_000;
const SERIES: usize = 100;
const T0: i64 = 1_795_000_000_000;

#[tokio::main]
async fn main() {
    let base =
        std::env::var("MICRODASH_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    let mut admin =
        MySqlConnection::connect(&base).await.expect("a MariaDB server at MICRODASH_TEST_MYSQL_URL");
    let settings: (u64, u64) =
        sqlx::query_as("SELECT @@innodb_buffer_pool_size, @@innodb_flush_log_at_trx_commit")
            .fetch_one(&mut admin)
            .await
            .expect("settings");
    println!(
        "innodb_buffer_pool_size = {} MiB, innodb_flush_log_at_trx_commit = {}",
        settings.0 >> 20,
        settings.1
    );
    run_all(&base, &mut admin, "").await;
    if std::env::args().any(|a| a == "--trx-commit-2") {
        set_trx_commit(&mut admin, 2).await;
        run_all(&base, &mut admin, " trx_commit=2").await;
        set_trx_commit(&mut admin, settings.1).await;
    }
}

async fn set_trx_commit(admin: &mut MySqlConnection, value: u64) {
    sqlx::query(AssertSqlSafe(format!("SET GLOBAL innodb_flush_log_at_trx_commit = {value}")))
        .execute(&mut *admin)
        .await
        .expect("SET GLOBAL needs SUPER");
}

async fn run_all(base: &str, admin: &mut MySqlConnection, label: &str) {
    for mode in ["plain", "sequential"] {
        for writers in [1, 4] {
            let db = format!("md_bench_{}", std::process::id());
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE `{db}`"))).execute(&mut *admin).await.unwrap();
            let rate = run(&format!("{base}/{db}"), mode, writers).await;
            sqlx::query(AssertSqlSafe(format!("DROP DATABASE `{db}`"))).execute(&mut *admin).await.unwrap();
            println!("{mode:<10} writers={writers}{label}: {SAMPLES} samples, {rate:.0} rows/s");
        }
    }
}

/// Inserts every batch with `writers` concurrent tasks; returns rows per second (wall time).
async fn run(url: &str, mode: &str, writers: usize) -> f64 {
    let opts = MariaDbOptions { url: url.to_owned(), max_connections: u32::try_from(writers).unwrap() };
    let store = MariaDbStore::connect(&opts).await.expect("connect");
    let slug = TenantSlug::new("bench").unwrap();
    let tenant = store
        .create(NewTenant { slug, name: "Bench".into() }, Timestamp::from_millis(T0))
        .await
        .expect("tenant")
        .id;
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            let mode = mode.to_owned();
            tokio::spawn(async move {
                for b in (w..SAMPLES / BATCH).step_by(writers) {
                    let inserted = store.insert_batch(tenant, &batch(b, &mode)).await.expect("insert");
                    assert_eq!(inserted.stored, BATCH);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let rate = SAMPLES as f64 / started.elapsed().as_secs_f64();
    check_count(&store, tenant).await;
    store.close().await;
    rate
}

/// The `b`th batch: samples `b * BATCH ..`, spread round-robin over the series.
fn batch(b: usize, mode: &str) -> Vec<Sample> {
    (b * BATCH..(b + 1) * BATCH)
        .map(|n| Sample {
            series: SeriesKey {
                metric: MetricName::new("bench.value").unwrap(),
                agent: Some(AgentId::new(format!("host-{:03}", n % SERIES)).unwrap()),
                tags: Tags::empty(),
            },
            value: n as f64 * 0.5,
            timestamp: Timestamp::from_millis(T0 + (n / SERIES) as i64),
            dedupe_id: (mode == "sequential")
                .then(|| DedupeId::new(format!("host-{:03}-{:012}", n % SERIES, n / SERIES)).unwrap()),
        })
        .collect()
}

/// Every sample must be there: a benchmark that loses rows measures nothing.
async fn check_count(store: &MariaDbStore, tenant: TenantId) {
    let query = microdash_usecases::ports::RawQuery {
        metric: MetricName::new("bench.value").unwrap(),
        agent: None,
        tags: Tags::empty(),
        start: Timestamp::from_millis(T0),
        end: Timestamp::from_millis(T0 + (SAMPLES / SERIES) as i64),
        limit: 1,
    };
    assert_eq!(store.query_raw(tenant, &query).await.expect("count").total, SAMPLES as u64);
}
