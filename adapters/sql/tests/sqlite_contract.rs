//! The storage port contract suite on SQLite, plus what only a file-backed store can get wrong:
//! migrations, reopening, chunking and atomicity. Every test gets its own database file.

use std::sync::Arc;

use microdash_adapter_sql::{SqliteOptions, SqliteStore};
use microdash_domain::sample::SeriesKey;
use microdash_domain::{DedupeId, MetricName, Sample, Tags, TenantId, Timestamp};
use microdash_usecases::ports::{
    AgentRegistry, AgentRegistryRef, HealthCheck, HealthCheckRef, Inserted, RawQuery, RawQueryResult,
    SampleStore, SampleStoreRef, StoreError, TenantRepo, TenantRepoRef, TokenRepoRef, contract,
};
use tempfile::TempDir;

const T0: i64 = 1_795_000_000_000;

fn options(dir: &TempDir) -> SqliteOptions {
    SqliteOptions {
        url: format!("sqlite://{}", dir.path().join("microdash.db").display()),
        read_connections: 2,
    }
}

/// A store on a new database file; keep the `TempDir` alive as long as the store.
async fn fresh_store() -> (TempDir, SqliteStore) {
    let dir = TempDir::new().expect("temp dir");
    let store = SqliteStore::connect(&options(&dir)).await.expect("connect");
    (dir, store)
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

async fn tenant(store: &SqliteStore) -> TenantId {
    contract::new_tenant(store, "sq").await.id
}

// --- The contract suite -------------------------------------------------------------------

microdash_usecases::storage_contract!(store => let (_dir, store) = fresh_store().await);

// --- SQLite specifics ---------------------------------------------------------------------

#[tokio::test]
async fn one_store_serves_as_every_storage_port_through_shared_references() {
    let (_dir, store) = fresh_store().await;
    let store = Arc::new(store);
    let tenants: TenantRepoRef = store.clone();
    let tokens: TokenRepoRef = store.clone();
    let samples: SampleStoreRef = store.clone();
    let agents: AgentRegistryRef = store.clone();
    let health: HealthCheckRef = store.clone();
    let t = contract::new_tenant(tenants.as_ref(), "ref").await.id;
    let moved = tokio::spawn(async move { samples.insert_batch(t, &[sample("m", 0, 1.0, None)]).await });
    assert_eq!(moved.await.unwrap().unwrap().stored, 1);
    assert!(tokens.list(t).await.unwrap().is_empty());
    assert!(agents.list(t).await.unwrap().is_empty());
    assert!(matches!(health.check().await, Ok(())));
}

#[tokio::test]
async fn the_health_check_reports_the_store_as_answering() {
    let (_dir, store) = fresh_store().await;
    assert_eq!(store.component(), "sqlite");
    assert!(matches!(store.check().await, Ok(())));
    store.close().await;
    assert!(store.check().await.is_err(), "a closed store must not report healthy");
}

#[tokio::test]
async fn connecting_twice_to_the_same_file_applies_the_migrations_once() {
    let (dir, first) = fresh_store().await;
    let t = tenant(&first).await;
    let second =
        SqliteStore::connect(&options(&dir)).await.expect("second connect migrates nothing and succeeds");
    second.insert_batch(t, &[sample("m", 0, 1.0, None)]).await.unwrap();
    assert_eq!(values(&first.query_raw(t, &everything("m")).await.unwrap()), vec![1.0]);
}

#[tokio::test]
async fn data_survives_closing_and_reopening_the_file() {
    // Arrange
    let (dir, store) = fresh_store().await;
    let t = tenant(&store).await;
    store
        .insert_batch(t, &[sample("m", 0, 1.0, Some("d-1".into())), sample("m", 1, 2.0, None)])
        .await
        .unwrap();
    store.close().await;

    // Act
    let reopened = SqliteStore::connect(&options(&dir)).await.unwrap();

    // Assert
    assert_eq!(values(&reopened.query_raw(t, &everything("m")).await.unwrap()), vec![1.0, 2.0]);
    let replay = reopened.insert_batch(t, &[sample("m", 5, 9.0, Some("d-1".into()))]).await.unwrap();
    assert_eq!(replay, Inserted { stored: 0, duplicates: vec![0] }, "dedupe ids survive a restart");
    reopened.insert_batch(t, &[sample("m", 1, 3.0, None)]).await.unwrap();
    assert_eq!(
        values(&reopened.query_raw(t, &everything("m")).await.unwrap()),
        vec![1.0, 3.0],
        "same series reused"
    );
}

#[tokio::test]
async fn the_database_directory_is_created_when_missing() {
    let dir = TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nested/deeper/microdash.db").display());
    let store = SqliteStore::connect(&SqliteOptions { url, read_connections: 1 }).await.unwrap();
    assert!(matches!(store.check().await, Ok(())));
    assert!(dir.path().join("nested/deeper/microdash.db").exists());
}

/// The database holds every tenant's samples and token hashes: nobody but the service user
/// may read it, its WAL, or the directory made for it.
#[cfg(unix)]
#[tokio::test]
async fn the_database_its_wal_and_a_new_directory_are_the_service_users_alone() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("new/microdash.db");
    let url = format!("sqlite://{}", file.display());
    let store = SqliteStore::connect(&SqliteOptions { url: url.clone(), read_connections: 1 }).await.unwrap();
    contract::new_tenant(&store, "perm").await;
    assert_eq!(mode(&file), 0o600, "the database file");
    assert_eq!(mode(&dir.path().join("new/microdash.db-wal")), 0o600, "its write-ahead log");
    assert_eq!(mode(&dir.path().join("new")), 0o700, "the directory made for it");
    store.close().await;

    // A database an earlier version left readable by everyone is made private at the next open.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = SqliteStore::connect(&SqliteOptions { url, read_connections: 1 }).await.unwrap();
    assert_eq!(mode(&file), 0o600);
    store.close().await;
}

#[tokio::test]
async fn an_in_memory_database_serves_reads_and_writes_from_one_database() {
    let store = SqliteStore::connect(&SqliteOptions { url: "sqlite::memory:".into(), read_connections: 4 })
        .await
        .unwrap();
    contract::sample_store_round_trips_per_series_and_isolates_tenants(&store).await;
}

#[tokio::test]
async fn a_batch_larger_than_one_statement_is_stored_fully_without_dedupe_ids() {
    let (_dir, store) = fresh_store().await;
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
    let (_dir, store) = fresh_store().await;
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
async fn a_failing_batch_stores_nothing_and_leaves_no_trace() {
    // Arrange: a batch with new series and dedupe ids spanning several statements, whose
    // last sample cannot be stored. The domain never lets a NaN through; SQLite binds it as
    // NULL, which the NOT NULL column refuses: a convenient failure after every other write.
    let (_dir, store) = fresh_store().await;
    let t = tenant(&store).await;
    let mut batch: Vec<_> =
        (0..1_200).map(|i| sample("first", i, i as f64, Some(format!("d-{i}")))).collect();
    batch.push(sample("first", 5_000, f64::NAN, None));

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
}

#[tokio::test]
async fn a_series_id_freed_by_a_failed_batch_is_not_cached_for_the_old_series() {
    // Arrange: "first" gets an id in a transaction that rolls back; "second" then receives the
    // same id from SQLite.
    let (_dir, store) = fresh_store().await;
    let t = tenant(&store).await;
    let failed =
        store.insert_batch(t, &[sample("first", 0, 1.0, None), sample("first", 1, f64::NAN, None)]).await;
    assert!(failed.is_err());

    // Act
    store.insert_batch(t, &[sample("second", 0, 2.0, None)]).await.unwrap();
    store.insert_batch(t, &[sample("first", 0, 1.0, None)]).await.unwrap();

    // Assert
    assert_eq!(values(&store.query_raw(t, &everything("first")).await.unwrap()), vec![1.0]);
    assert_eq!(values(&store.query_raw(t, &everything("second")).await.unwrap()), vec![2.0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_queue_for_the_single_writer_instead_of_failing_while_readers_read() {
    // Arrange
    let (_dir, store) = fresh_store().await;
    let t = tenant(&store).await;

    // Act: 8 writers of 20 batches each, and 4 readers querying all along.
    let writers: Vec<_> = (0..8_i64)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for b in 0..20_i64 {
                    let batch: Vec<_> = (0..100_i64)
                        .map(|i| {
                            let n = (w * 20 + b) * 100 + i;
                            sample(&format!("m{w}"), n, n as f64, Some(format!("d-{n}")))
                        })
                        .collect();
                    store.insert_batch(t, &batch).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .collect();
    let readers: Vec<_> = (0..4)
        .map(|r| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    store.query_raw(t, &everything(&format!("m{r}"))).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .collect();
    for task in writers.into_iter().chain(readers) {
        task.await.unwrap().expect("no SQLITE_BUSY or other failure");
    }

    // Assert
    for w in 0..8 {
        assert_eq!(store.query_raw(t, &everything(&format!("m{w}"))).await.unwrap().total, 2_000);
    }
}

#[tokio::test]
async fn an_empty_batch_stores_nothing() {
    let (_dir, store) = fresh_store().await;
    let t = tenant(&store).await;
    assert_eq!(store.insert_batch(t, &[]).await.unwrap(), Inserted::default());
}

#[tokio::test]
async fn a_query_with_limit_zero_counts_without_returning_points() {
    let (_dir, store) = fresh_store().await;
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
    let (_dir, store) = fresh_store().await;
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
    let (_dir, store) = fresh_store().await;
    let t = tenant(&store).await;
    store.record(t, &[]).await.unwrap();
    assert!(AgentRegistry::list(&store, t).await.unwrap().is_empty());
    assert!(TenantRepo::list(&store).await.unwrap().iter().any(|x| x.id == t));
}
