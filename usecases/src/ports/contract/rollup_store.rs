//! Contract of [`RollupStore`]: rollup buckets written, read and folded from raw samples.

use super::*;

/// Buckets are replaced, not added to; read back per series and resolution; never across
/// tenants.
pub async fn rollup_store_replaces_buckets_and_isolates_tenants(store: &dyn Storage) {
    let a = new_tenant(store, "rsa").await;
    let b = new_tenant(store, "rsb").await;
    store.insert_batch(a.id, &[s_at("m", None, 0, 1.0)]).await.unwrap();
    let id = only_series(store, a.id, "m").await;
    let b1 = bucket(&[(M0, 1.0), (M0 + 5, 3.0)]);
    let b2 = bucket(&[(M0 + MINUTE_MS, -2.0)]);
    store
        .write_buckets(a.id, Resolution::OneMinute, &[(id, at(M0), b1), (id, at(M0 + MINUTE_MS), b2)])
        .await
        .unwrap();
    let read = store
        .read_buckets(a.id, Resolution::OneMinute, &[id], at(M0), at(M0 + MINUTE_MS), None)
        .await
        .unwrap();
    assert_eq!(read, vec![(id, vec![(at(M0), b1), (at(M0 + MINUTE_MS), b2)])]);

    let replaced = bucket(&[(M0 + 7, 8.0)]);
    store.write_buckets(a.id, Resolution::OneMinute, &[(id, at(M0), replaced)]).await.unwrap();
    let read = store.read_buckets(a.id, Resolution::OneMinute, &[id], at(M0), at(M0), Some(5)).await.unwrap();
    assert_eq!(read, vec![(id, vec![(at(M0), replaced)])], "written again: replaced, not merged");
    let first =
        store.read_buckets(a.id, Resolution::OneMinute, &[id], at(0), at(i64::MAX), Some(1)).await.unwrap();
    assert_eq!(first[0].1.len(), 1, "limit per series");
    assert!(
        store
            .read_buckets(a.id, Resolution::FiveMinutes, &[id], at(0), at(i64::MAX), None)
            .await
            .unwrap()
            .is_empty(),
        "resolutions are kept apart"
    );

    // Tenant b can neither read nor overwrite a's buckets through a's series id.
    assert!(
        store
            .read_buckets(b.id, Resolution::OneMinute, &[id], at(0), at(i64::MAX), None)
            .await
            .unwrap()
            .is_empty()
    );
    store.write_buckets(b.id, Resolution::OneMinute, &[(id, at(M0), b2)]).await.unwrap();
    let read = store.read_buckets(a.id, Resolution::OneMinute, &[id], at(M0), at(M0), None).await.unwrap();
    assert_eq!(read[0].1[0].1, replaced);

    let raw = store.write_buckets(a.id, Resolution::Raw, &[]).await;
    assert!(matches!(raw, Err(StoreError::Rejected { .. })), "{raw:?}");
}

/// Folding raw samples where they are gives exactly the domain's 1-minute buckets, over
/// `[from, to)`, and never another tenant's.
pub async fn rollup_store_folds_raw_samples_like_the_domain(store: &dyn Storage) {
    let a = new_tenant(store, "rfa").await;
    let b = new_tenant(store, "rfb").await;
    let batch: Vec<_> = [
        (-1_000, 7.0),
        (0, 3.0),
        (59_999, -4.0),
        (30_000, 9.0),
        (60_000, 1.0),
        (125_000, 2.0),
        (180_000, 5.0),
    ]
    .iter()
    .map(|&(offset, v)| s_at("m", None, offset, v))
    .collect();
    store.insert_batch(a.id, &batch).await.unwrap();
    let id = only_series(store, a.id, "m").await;

    let folded = store.fold_raw(a.id, &[id], at(M0), at(M0 + 3 * MINUTE_MS)).await.unwrap();

    let inside = batch.iter().filter(|s| (M0..M0 + 3 * MINUTE_MS).contains(&s.timestamp.as_millis()));
    let expected: Vec<_> =
        fold_into_buckets(inside.map(|s| (s.timestamp, s.value)), MINUTE_MS).into_iter().collect();
    assert_eq!(expected.len(), 3);
    assert_eq!(folded, vec![(id, expected)]);
    assert!(store.fold_raw(b.id, &[id], at(M0), at(M0 + 3 * MINUTE_MS)).await.unwrap().is_empty());
    assert!(store.fold_raw(a.id, &[id], at(M0), at(M0)).await.unwrap().is_empty(), "an empty range");
}
