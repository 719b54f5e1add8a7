//! The storage port contract suite on MariaDB, plus what only a shared server can get wrong:
//! migrations on an existing database, chunking, atomicity and concurrent writers.
//!
//! Needs a MariaDB server: `MICRODASH_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306`,
//! a user that may create databases). Every test creates its own `md_test_*` database and drops
//! it when it ends, panicking or not; without a server the tests fail and say so.

use std::sync::atomic::{AtomicU64, Ordering};

use microdash_adapter_sql::{MariaDbOptions, MariaDbStore};
use microdash_domain::sample::SeriesKey;
use microdash_domain::{DedupeId, MetricName, Sample, Tags, TenantId, Timestamp};
use microdash_usecases::ports::{
    AgentRegistry, HealthCheck, Inserted, RawQuery, RawQueryResult, SampleStore, StoreError, TenantRepo,
    contract,
};
use sqlx::{AssertSqlSafe, Connection, MySqlConnection, Row};

const T0: i64 = 1_795_000_000_000;

/// The server URL without a database.
fn base_url() -> String {
    std::env::var("MICRODASH_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

/// A connection to the server itself, or a panic that says a MariaDB server is needed.
async fn server() -> MySqlConnection {
    let url = base_url();
    MySqlConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "These tests need a MariaDB server at {url} (set MICRODASH_TEST_MYSQL_URL to \
             mysql://user:password@host:port of a user that may create databases): {e}"
        )
    })
}

/// A database of its own for one test, dropped when this guard is (also when the test panics).
struct TestDb {
    name: String,
}

impl TestDb {
    async fn create() -> TestDb {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let name = format!(
            "md_test_{}_{}_{}",
            std::process::id(),
            nanos % 1_000_000_000_000,
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = server().await;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        conn.close().await.ok();
        TestDb { name }
    }

    fn options(&self) -> MariaDbOptions {
        MariaDbOptions { url: format!("{}/{}", base_url(), self.name), max_connections: 4 }
    }

    async fn store(&self) -> MariaDbStore {
        MariaDbStore::connect(&self.options()).await.expect("connect to the test database")
    }

    /// A plain connection to this database, for what the store does not offer.
    async fn connection(&self) -> MySqlConnection {
        MySqlConnection::connect(&self.options().url).await.expect("connect to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop cannot await, and blocking inside the test's runtime is not allowed: drop the
        // database from a thread with a runtime of its own, and wait for it.
        let name = std::mem::take(&mut self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let mut conn = server().await;
                sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
                    .execute(&mut conn)
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(_))) && !std::thread::panicking() {
            panic!("could not drop the test database: {dropped:?}");
        }
    }
}

fn sample(metric: &str, offset_ms: i64, value: f64, dedupe: Option<String>) -> Sample {
    Sample {
        series: SeriesKey { metric: MetricName::new(metric).unwrap(), agent: None, tags: Tags::empty() },
        value,
        timestamp: Timestamp::from_millis(T0 + offset_ms),
        dedupe_id: dedupe.map(|d| DedupeId::new(d).unwrap()),
    }
}

fn everything(metric: &str) -> RawQuery {
    RawQuery {
        metric: MetricName::new(metric).unwrap(),
        agent: None,
        tags: Tags::empty(),
        start: Timestamp::from_millis(0),
        end: Timestamp::from_millis(i64::MAX),
        limit: 1_000_000,
    }
}

fn values(result: &RawQueryResult) -> Vec<f64> {
    result.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).collect()
}

async fn tenant(store: &MariaDbStore) -> TenantId {
    contract::new_tenant(store, "my").await.id
}

// --- The contract suite -------------------------------------------------------------------

microdash_usecases::storage_contract!(store =>
    let db = TestDb::create().await;
    let store = db.store().await
);

// --- MariaDB specifics --------------------------------------------------------------------

#[tokio::test]
async fn connecting_twice_to_the_same_database_applies_the_migrations_once() {
    let db = TestDb::create().await;
    let first = db.store().await;
    let t = tenant(&first).await;
    let second = db.store().await;
    second.insert_batch(t, &[sample("m", 0, 1.0, None)]).await.unwrap();
    assert_eq!(values(&first.query_raw(t, &everything("m")).await.unwrap()), vec![1.0]);
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut db.connection().await)
        .await
        .unwrap();
    let migrations =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/mysql")).unwrap().count();
    assert_eq!(applied, migrations as i64);
}

#[tokio::test]
async fn the_health_check_reports_the_store_as_answering() {
    let db = TestDb::create().await;
    let store = db.store().await;
    assert_eq!(store.component(), "mariadb");
    assert!(matches!(store.check().await, Ok(())));
    store.close().await;
    assert!(store.check().await.is_err(), "a closed store must not report healthy");
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let opts = MariaDbOptions { url: "mysql://root@127.0.0.1:1/none".into(), max_connections: 1 };
    let failed = MariaDbStore::connect(&opts).await;
    assert!(matches!(failed, Err(StoreError::Unavailable { source: Some(_), .. })), "{:?}", failed.err());
}

#[tokio::test]
async fn a_batch_larger_than_one_statement_is_stored_fully_without_dedupe_ids() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let t = tenant(&store).await;
    let batch: Vec<_> = (0..2_345).map(|i| sample("big", i, i as f64, None)).collect();
    assert_eq!(store.insert_batch(t, &batch).await.unwrap(), Inserted { stored: 2_345, duplicates: vec![] });
    let r = store.query_raw(t, &everything("big")).await.unwrap();
    assert_eq!((r.total, r.truncated), (2_345, false));
    assert_eq!(values(&r), (0..2_345).map(|i| i as f64).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_batch_larger_than_one_statement_is_stored_fully_and_deduped_with_dedupe_ids() {
    // Arrange
    let db = TestDb::create().await;
    let store = db.store().await;
    let t = tenant(&store).await;
    let batch: Vec<_> = (0..2_345).map(|i| sample("big", i, i as f64, Some(format!("d-{i}")))).collect();

    // Act
    let first = store.insert_batch(t, &batch).await.unwrap();
    // A replay with one new sample in the last chunk, and a repeat within the batch.
    let mut replay = batch.clone();
    replay.push(sample("big", 10_000, -1.0, Some("new".into())));
    replay.push(sample("big", 10_001, -2.0, Some("d-2000".into())));
    let second = store.insert_batch(t, &replay).await.unwrap();

    // Assert
    assert_eq!(first, Inserted { stored: 2_345, duplicates: vec![] });
    let mut expected_duplicates: Vec<usize> = (0..2_345).collect();
    expected_duplicates.push(2_346);
    assert_eq!(second, Inserted { stored: 1, duplicates: expected_duplicates });
    let r = store.query_raw(t, &everything("big")).await.unwrap();
    assert_eq!(r.total, 2_346);
    assert_eq!(values(&r).last(), Some(&-1.0));
}

#[tokio::test]
async fn dedupe_ids_differing_only_in_case_or_trailing_spaces_are_different_ids() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let t = tenant(&store).await;
    let batch = vec![
        sample("m", 0, 1.0, Some("abc".into())),
        sample("m", 1, 2.0, Some("ABC".into())),
        sample("m", 2, 3.0, Some("abc ".into())),
        sample("m", 3, 4.0, Some("äbc".into())),
    ];
    assert_eq!(store.insert_batch(t, &batch).await.unwrap(), Inserted { stored: 4, duplicates: vec![] });
}

#[tokio::test]
async fn a_failing_batch_stores_nothing_and_leaves_no_trace() {
    // Arrange: a batch with new series and dedupe ids spanning several statements, whose
    // last sample cannot be stored. The domain lets nothing through that the schema refuses,
    // so the test adds a CHECK that refuses one value: a failure after every other write.
    let db = TestDb::create().await;
    let store = db.store().await;
    let t = tenant(&store).await;
    sqlx::query("ALTER TABLE samples ADD CONSTRAINT test_refuses CHECK (value <> -12345)")
        .execute(&mut db.connection().await)
        .await
        .unwrap();
    let mut batch: Vec<_> =
        (0..1_200).map(|i| sample("first", i, i as f64, Some(format!("d-{i}")))).collect();
    batch.push(sample("first", 5_000, -12_345.0, None));

    // Act
    let failed = store.insert_batch(t, &batch).await;

    // Assert: nothing stored, no series left behind, dedupe ids not spent.
    assert!(
        matches!(failed, Err(StoreError::Rejected { .. })),
        "refused for good, not retryable: {failed:?}"
    );
    assert_eq!(store.query_raw(t, &everything("first")).await.unwrap(), RawQueryResult::default());
    assert!(store.metric_names(t).await.unwrap().is_empty());
    batch.pop();
    assert_eq!(store.insert_batch(t, &batch[..1]).await.unwrap(), Inserted { stored: 1, duplicates: vec![] });
    assert_eq!(values(&store.query_raw(t, &everything("first")).await.unwrap()), vec![0.0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_with_overlapping_dedupe_ids_store_each_id_once() {
    // Arrange: 4 writers, each sending ids 0..1500 of one shared id space shifted by 500 per
    // writer (so every pair overlaps), for new series, as several workers replaying would.
    let db = TestDb::create().await;
    let store = db.store().await;
    let t = tenant(&store).await;

    // Act
    let writers: Vec<_> = (0..4_i64)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let batch: Vec<_> = (w * 500..w * 500 + 1_500)
                    .map(|n| sample(&format!("m{}", n % 3), n, w as f64, Some(format!("d-{n}"))))
                    .collect();
                store.insert_batch(t, &batch).await
            })
        })
        .collect();
    let mut stored = 0;
    let mut skipped = 0;
    for task in writers {
        let ins = task.await.unwrap().expect("no deadlock or other failure reaches the caller");
        stored += ins.stored;
        skipped += ins.duplicates.len();
    }

    // Assert: ids 0..3000 stored once each, every other copy reported as a duplicate.
    assert_eq!((stored, skipped), (3_000, 4 * 1_500 - 3_000));
    let total: u64 = total_points(&store, t, &["m0", "m1", "m2"]).await;
    assert_eq!(total, 3_000);
    let mut conn = db.connection().await;
    let ids: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dedupe").fetch_one(&mut conn).await.unwrap();
    let series: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM series").fetch_one(&mut conn).await.unwrap();
    assert_eq!((ids, series), (3_000, 3));
}

async fn total_points(store: &MariaDbStore, t: TenantId, metrics: &[&str]) -> u64 {
    let mut total = 0;
    for m in metrics {
        total += store.query_raw(t, &everything(m)).await.unwrap().total;
    }
    total
}

#[tokio::test]
async fn a_query_reads_only_the_requested_time_range_of_each_series() {
    // The samples query must be a range scan of the primary key per series, not a scan of
    // whole series (or of the table).
    let db = TestDb::create().await;
    let store = db.store().await;
    let t = tenant(&store).await;
    store.insert_batch(t, &[sample("m", 0, 1.0, None)]).await.unwrap();
    let plan: Vec<(Option<String>, Option<String>)> = sqlx::query(
        "EXPLAIN SELECT series_id, ts, value FROM samples WHERE series_id IN (1,2,3) \
         AND ts BETWEEN 10 AND 20 ORDER BY ts, series_id LIMIT 10",
    )
    .fetch_all(&mut db.connection().await)
    .await
    .unwrap()
    .into_iter()
    .map(|row| (row.try_get("type").unwrap(), row.try_get("key").unwrap()))
    .collect();
    assert_eq!(plan, vec![(Some("range".into()), Some("PRIMARY".into()))]);
}

#[tokio::test]
async fn an_empty_batch_stores_nothing() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let t = tenant(&store).await;
    assert_eq!(store.insert_batch(t, &[]).await.unwrap(), Inserted::default());
}

#[tokio::test]
async fn a_query_with_limit_zero_counts_without_returning_points() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let t = tenant(&store).await;
    store.insert_batch(t, &[sample("m", 0, 1.0, None), sample("m", 1, 2.0, None)]).await.unwrap();
    let mut q = everything("m");
    q.limit = 0;
    let r = store.query_raw(t, &q).await.unwrap();
    assert_eq!((r.series.len(), r.total, r.truncated), (0, 2, true));
}

#[tokio::test]
async fn token_creation_for_a_missing_tenant_is_not_found() {
    use microdash_domain::token::TokenHash;
    use microdash_usecases::ports::{NewToken, TokenRepo};
    let db = TestDb::create().await;
    let store = db.store().await;
    let new = NewToken {
        tenant_id: TenantId::new(424_242),
        name: "ci".into(),
        display_prefix: "mdt_abcdefgh".into(),
        hash: TokenHash("f".repeat(64)),
    };
    let created = TokenRepo::create(&store, new, Timestamp::from_millis(T0)).await;
    assert!(matches!(created, Err(StoreError::NotFound(_))), "{created:?}");
}

#[tokio::test]
async fn recording_no_agents_is_a_no_op() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let t = tenant(&store).await;
    store.record(t, &[]).await.unwrap();
    assert!(AgentRegistry::list(&store, t).await.unwrap().is_empty());
    assert!(TenantRepo::list(&store).await.unwrap().iter().any(|x| x.id == t));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_chosen_as_deadlock_victim_is_retried_instead_of_failing() {
    // Arrange: another transaction holds dedupe id "z"; the batch claims "a" (first, in key
    // order) and then waits for "z". The other transaction has written more rows, so InnoDB
    // (which rolls back the lighter side) picks the batch as the victim.
    let db = TestDb::create().await;
    let store = db.store().await;
    let t = tenant(&store).await;
    let mut other = db.connection().await;
    let mut other_tx = other.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO dedupe (tenant_id, dedupe_id, ts) SELECT 0, CONCAT('w-', seq), 0 FROM seq_1_to_500",
    )
    .execute(&mut *other_tx)
    .await
    .unwrap();
    sqlx::query("INSERT INTO dedupe (tenant_id, dedupe_id, ts) VALUES (?, 'z', 0)")
        .bind(t.get())
        .execute(&mut *other_tx)
        .await
        .unwrap();
    let batch = vec![sample("m", 0, 1.0, Some("a".into())), sample("m", 1, 2.0, Some("z".into()))];
    let writer = {
        let store = store.clone();
        tokio::spawn(async move { store.insert_batch(t, &batch).await })
    };
    let other_id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()").fetch_one(&mut *other_tx).await.unwrap();
    let mut probe = db.connection().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.innodb_lock_waits w \
             JOIN information_schema.innodb_trx b ON b.trx_id = w.blocking_trx_id \
             WHERE b.trx_mysql_thread_id = ?",
        )
        .bind(other_id)
        .fetch_one(&mut probe)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            !writer.is_finished(),
            "the batch did not wait for the other transaction: {:?}",
            writer.await
        );
        assert!(std::time::Instant::now() < deadline, "the batch never waited for the other transaction");
        // InnoDB refreshes its information_schema lock tables only when they have not been
        // read for 100 ms; polling faster would keep reading the same stale snapshot.
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }

    // Act: the other transaction now wants "a": a cycle, and InnoDB rolls one side back.
    let other_result = sqlx::query("INSERT INTO dedupe (tenant_id, dedupe_id, ts) VALUES (?, 'a', 0)")
        .bind(t.get())
        .execute(&mut *other_tx)
        .await;
    other_result.expect("InnoDB rolls back the lighter transaction, the batch");
    other_tx.commit().await.unwrap();
    let inserted = writer.await.unwrap().expect("a deadlock must not reach the caller");

    // Assert: the retry found both ids taken by the transaction that won.
    assert_eq!(inserted, Inserted { stored: 0, duplicates: vec![0, 1] });
    let ids: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dedupe WHERE tenant_id = ?")
        .bind(t.get())
        .fetch_one(&mut probe)
        .await
        .unwrap();
    assert_eq!(ids, 2);
}
