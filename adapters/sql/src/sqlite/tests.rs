//! What only SQLite can get wrong: its tuned settings, and the query plans the shared
//! statements must get from SQLite's planner (MariaDB's are checked in
//! `tests/mariadb_contract.rs`).

use std::collections::BTreeMap;

use microdash_domain::sample::SeriesKey;
use microdash_domain::tenant::NewTenant;
use microdash_domain::{MetricName, Sample, Tags, TenantSlug, Timestamp};
use microdash_usecases::ports::{RawQuery, SampleStore, TenantRepo};
use sqlx::{AssertSqlSafe, Row};

use super::ports::retention::delete_sql;
use super::ports::rollups::{buckets_sql, fold_sql};
use super::ports::samples::{JOINED_COUNT_SQL, JOINED_POINTS_SQL};
use super::ports::series_reader::points_sql;
use super::*;

/// The value of a pragma on one connection of `pool`, as text.
async fn pragma(pool: &SqlitePool, name: &str) -> String {
    let sql = AssertSqlSafe(format!("PRAGMA {name}"));
    let row = sqlx::query(sql).fetch_one(pool).await.unwrap();
    row.try_get::<String, _>(0).or_else(|_| row.try_get::<i64, _>(0).map(|n| n.to_string())).unwrap()
}

/// A store on a private in-memory database.
async fn in_memory() -> SqliteStore {
    SqliteStore::connect(&SqliteOptions { url: "sqlite::memory:".into(), read_connections: 1 }).await.unwrap()
}

/// The plan SQLite chooses for `sql` with `binds` (all integers), one line per step.
async fn plan(pool: &SqlitePool, sql: &str, binds: &[i64]) -> Vec<String> {
    let mut explain =
        sqlx::query_as::<_, (i64, i64, i64, String)>(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
    for bind in binds {
        explain = explain.bind(bind);
    }
    explain.fetch_all(pool).await.unwrap().into_iter().map(|row| row.3).collect()
}

/// Settings are easy to lose silently (a pragma that was never applied reads back as its
/// default), and each of these was measured or is relied on.
#[tokio::test]
async fn connections_run_in_wal_mode_with_the_tuned_settings() {
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let store = SqliteStore::connect(&SqliteOptions { url, read_connections: 1 }).await.unwrap();
    for (name, expected) in [
        ("journal_mode", "wal"),
        ("synchronous", "1"),
        ("temp_store", "2"),
        ("foreign_keys", "1"),
        ("busy_timeout", "5000"),
        ("wal_autocheckpoint", "10000"),
        ("cache_size", "-32768"),
    ] {
        assert_eq!(pragma(&store.write, name).await, expected, "writer: {name}");
    }
    for (name, expected) in [("query_only", "1"), ("temp_store", "2"), ("busy_timeout", "5000")] {
        assert_eq!(pragma(&store.read, name).await, expected, "reader: {name}");
    }
    store.close().await;
}

/// The raw query must walk the tenant's series through the unique index and read each
/// series' time range from the samples key; a full scan of `samples` would make every query
/// as slow as the whole table is large.
#[tokio::test]
async fn raw_queries_use_the_series_index_and_the_samples_key() {
    let store = in_memory().await;
    // The tenant, the metric, the agent twice (NULL: all agents), the range, and for the page
    // its limit.
    for (sql, has_limit) in [(JOINED_POINTS_SQL, true), (JOINED_COUNT_SQL, false)] {
        let mut explain =
            sqlx::query_as::<_, (i64, i64, i64, String)>(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .bind(1_i64)
                .bind("m")
                .bind(None::<&str>)
                .bind(None::<&str>)
                .bind(0_i64)
                .bind(1_i64);
        if has_limit {
            explain = explain.bind(10_i64);
        }
        let plan: Vec<String> =
            explain.fetch_all(&store.read).await.unwrap().into_iter().map(|r| r.3).collect();
        assert!(plan.iter().any(|p| p.starts_with("SEARCH s USING") && p.contains("INDEX")), "{plan:?}");
        assert!(plan.iter().any(|p| p.starts_with("SEARCH p USING PRIMARY KEY")), "{plan:?}");
        assert!(!plan.iter().any(|p| p.starts_with("SCAN p")), "{plan:?}");
    }
}

/// Reading points and folding them must walk each series' time range through the `samples`
/// key; a scan of `samples` would make a chart as slow as the table is large.
#[tokio::test]
async fn points_and_folds_are_read_through_the_samples_key() {
    let store = in_memory().await;
    for sql in [points_sql(2), fold_sql(2)] {
        // The tenant, two series ids, the range.
        let plan = plan(&store.read, &sql, &[1, 1, 2, 0, 10]).await;
        assert!(
            plan.iter().any(|p| p.starts_with("SEARCH p USING PRIMARY KEY (series_id=? AND ts")),
            "{plan:?}"
        );
        assert!(!plan.iter().any(|p| p.starts_with("SCAN p") || p.starts_with("SCAN samples")), "{plan:?}");
    }
}

/// Buckets are read as each series' range of the bucket table's key, never a scan.
#[tokio::test]
async fn buckets_are_read_through_the_bucket_key() {
    let store = in_memory().await;
    let plan = plan(&store.read, &buckets_sql("rollup_1m", 2), &[1, 1, 2, 0, 10]).await;
    assert!(
        plan.iter()
            .any(|p| p.starts_with("SEARCH b USING PRIMARY KEY (series_id=? AND bucket>? AND bucket<?)")),
        "{plan:?}"
    );
    assert!(!plan.iter().any(|p| p.starts_with("SCAN")), "{plan:?}");
}

/// A chunk must find its rows through the `samples` key, one series' range at a time, and
/// delete them by key: a scan of the whole table would make every chunk as slow as the table
/// is large, holding the writer all along.
#[tokio::test]
async fn a_raw_chunk_deletes_through_the_samples_key() {
    let store = in_memory().await;
    // `before`, the tenant, two series ids, the most rows.
    let plan = plan(&store.write, &delete_sql("samples", "ts", true, 2), &[1, 1, 1, 2, 10]).await;
    assert!(!plan.iter().any(|p| p.starts_with("SCAN")), "{plan:?}");
    assert!(
        plan.iter().any(|p| p.starts_with("SEARCH samples USING PRIMARY KEY (series_id=? AND ts<?)")),
        "the sub-select finds each series' expired range: {plan:?}"
    );
    assert!(
        plan.iter().any(|p| p.starts_with("SEARCH samples USING PRIMARY KEY (series_id=? AND ts=?)")),
        "the delete finds the rows by key: {plan:?}"
    );
}

/// A tag filter takes the path that selects the series first (the contract suite queries
/// without tags); it must keep only series carrying the tags, and count past the page.
#[tokio::test]
async fn a_raw_query_with_tags_reads_only_the_series_carrying_them() {
    // Arrange
    let store = in_memory().await;
    let new = NewTenant { slug: TenantSlug::new("t").unwrap(), name: "T".into() };
    let tenant = store.create(new, Timestamp::from_millis(0)).await.unwrap().id;
    let tags = |pairs: &[(&str, &str)]| {
        Tags::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>())
            .unwrap()
    };
    let sample = |tags: Tags, ts: i64, value: f64| Sample {
        series: SeriesKey { metric: MetricName::new("m").unwrap(), agent: None, tags },
        value,
        timestamp: Timestamp::from_millis(ts),
        dedupe_id: None,
    };
    let batch = [
        sample(tags(&[("core", "1")]), 1, 1.0),
        sample(tags(&[("core", "1"), ("host", "a")]), 2, 2.0),
        sample(tags(&[("core", "2")]), 3, 3.0),
        sample(Tags::empty(), 4, 4.0),
        sample(tags(&[("core", "1")]), 5, 5.0),
    ];
    store.insert_batch(tenant, &batch).await.unwrap();
    let query = RawQuery {
        metric: MetricName::new("m").unwrap(),
        agent: None,
        tags: tags(&[("core", "1")]),
        start: Timestamp::from_millis(0),
        end: Timestamp::from_millis(10),
        limit: 2,
    };

    // Act
    let result = store.query_raw(tenant, &query).await.unwrap();

    // Assert
    let points: Vec<(usize, f64)> =
        result.series.iter().flat_map(|s| s.points.iter().map(|p| (s.tags.iter().count(), p.1))).collect();
    assert_eq!(points, vec![(1, 1.0), (2, 2.0)], "the earliest two points of the two matching series");
    assert_eq!((result.total, result.truncated), (3, true));
}
