//! Contract of [`SampleStore`]: raw samples stored per series, paged, deduplicated, isolated per tenant.

use super::*;

/// Samples come back in time order, per series, only for the tenant that stored them.
pub async fn sample_store_round_trips_per_series_and_isolates_tenants(storage: &dyn Storage) {
    let (tenants, store): (&dyn TenantRepo, &dyn SampleStore) = (storage, storage);
    let a = new_tenant(tenants, "ssa").await;
    let b = new_tenant(tenants, "ssb").await;
    let batch = vec![
        sample("cpu", Some("h2"), 20, 2.0),
        sample("cpu", Some("h1"), 10, 1.0),
        sample("cpu", Some("h1"), 0, 0.5),
        with_tags(sample("cpu", Some("h1"), 5, 9.0), &[("core", "1")]),
        sample("mem", None, 0, 100.0),
    ];
    let ins = store.insert_batch(a.id, &batch).await.unwrap();
    assert_eq!(ins, Inserted { stored: 5, duplicates: vec![] });

    let r = store.query_raw(a.id, &all("cpu")).await.unwrap();
    assert_eq!(r.total, 4);
    assert!(!r.truncated);
    let shape: Vec<_> = r
        .series
        .iter()
        .map(|s| (s.agent.as_ref().map(|a| a.to_string()), s.tags.iter().count(), s.points.len()))
        .collect();
    assert_eq!(shape, vec![(Some("h1".into()), 0, 2), (Some("h1".into()), 1, 1), (Some("h2".into()), 0, 1)]);
    assert_eq!(
        r.series[0].points,
        vec![(Timestamp::from_millis(T0), 0.5), (Timestamp::from_millis(T0 + 10), 1.0)]
    );

    let mut only_h2 = all("cpu");
    only_h2.agent = Some(AgentId::new("h2").unwrap());
    assert_eq!(values(&store.query_raw(a.id, &only_h2).await.unwrap()), vec![2.0]);

    let names: Vec<String> = store.metric_names(a.id).await.unwrap().iter().map(|m| m.to_string()).collect();
    assert_eq!(names, vec!["cpu", "mem"]);

    // Tenant b sees nothing of a's.
    assert_eq!(store.query_raw(b.id, &all("cpu")).await.unwrap(), RawQueryResult::default());
    assert!(store.metric_names(b.id).await.unwrap().is_empty());
}

/// The range is inclusive at both ends and `limit` returns the earliest points, saying so.
pub async fn sample_store_query_honours_range_and_limit(storage: &dyn Storage) {
    let (tenants, store): (&dyn TenantRepo, &dyn SampleStore) = (storage, storage);
    let t = new_tenant(tenants, "ssr").await;
    let batch: Vec<_> = (0..10).map(|i| sample("m", Some("a"), i * 1000, i as f64)).collect();
    store.insert_batch(t.id, &batch).await.unwrap();
    let mut q = all("m");
    q.start = Timestamp::from_millis(T0 + 2000);
    q.end = Timestamp::from_millis(T0 + 5000);
    let r = store.query_raw(t.id, &q).await.unwrap();
    assert_eq!(values(&r), vec![2.0, 3.0, 4.0, 5.0], "start and end are inclusive");
    q.limit = 3;
    let r = store.query_raw(t.id, &q).await.unwrap();
    assert_eq!(values(&r), vec![2.0, 3.0, 4.0]);
    assert_eq!((r.total, r.truncated), (4, true));
}

/// A dedupe id is stored once per tenant; another tenant may use the same id; the same series
/// and millisecond replaces the value.
pub async fn sample_store_dedupes_per_tenant_and_replaces_same_millisecond(storage: &dyn Storage) {
    let (tenants, store): (&dyn TenantRepo, &dyn SampleStore) = (storage, storage);
    let a = new_tenant(tenants, "sda").await;
    let b = new_tenant(tenants, "sdb").await;
    let first = vec![
        with_dedupe(sample("m", Some("x"), 0, 1.0), "d-1"),
        with_dedupe(sample("m", Some("x"), 1, 2.0), "d-2"),
    ];
    assert_eq!(store.insert_batch(a.id, &first).await.unwrap().stored, 2);

    // A replay of d-1 (with another timestamp even) and a new d-3 in one batch.
    let replay = vec![
        with_dedupe(sample("m", Some("x"), 50, 7.0), "d-1"),
        with_dedupe(sample("m", Some("x"), 2, 3.0), "d-3"),
    ];
    let ins = store.insert_batch(a.id, &replay).await.unwrap();
    assert_eq!(ins, Inserted { stored: 1, duplicates: vec![0] });
    assert_eq!(values(&store.query_raw(a.id, &all("m")).await.unwrap()), vec![1.0, 2.0, 3.0]);

    // The same dedupe id in one batch twice: stored once.
    let twice = vec![
        with_dedupe(sample("m", Some("x"), 3, 4.0), "d-4"),
        with_dedupe(sample("m", Some("x"), 4, 5.0), "d-4"),
    ];
    assert_eq!(store.insert_batch(a.id, &twice).await.unwrap(), Inserted { stored: 1, duplicates: vec![1] });

    // Tenant b's d-1 is its own.
    let ins = store.insert_batch(b.id, &[with_dedupe(sample("m", Some("x"), 0, 9.0), "d-1")]).await.unwrap();
    assert_eq!(ins.stored, 1);

    // Same series and millisecond without a dedupe id: last write wins.
    store.insert_batch(b.id, &[sample("m", Some("x"), 0, 10.0)]).await.unwrap();
    assert_eq!(values(&store.query_raw(b.id, &all("m")).await.unwrap()), vec![10.0]);
}
