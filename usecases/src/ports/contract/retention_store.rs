//! Contract of [`RetentionStore`]: retention's chunked deletes.

use super::*;

async fn expire_all(
    store: &dyn Storage,
    t: TenantId,
    what: Expiring,
    before: Timestamp,
    chunk: usize,
) -> (u64, usize) {
    let (mut deleted, mut calls, mut cursor) = (0, 0, None);
    loop {
        let r = store.delete_expired(t, what, before, cursor, chunk).await.unwrap();
        assert!(r.deleted <= chunk as u64, "a chunk is bounded: {r:?}");
        deleted += r.deleted;
        calls += 1;
        assert!(calls < 100, "retention must terminate");
        match r.next {
            Some(c) => cursor = Some(c),
            None => return (deleted, calls),
        }
    }
}

/// Retention deletes what is older than the cut-off in bounded chunks, per tenant, and keeps
/// the raw samples of dirty minutes until they are folded again.
pub async fn retention_store_deletes_in_chunks_and_keeps_dirty_minutes(store: &dyn Storage) {
    let t = new_tenant(store, "rta").await;
    let other = new_tenant(store, "rtb").await;
    let batch: Vec<_> = (0..10)
        .flat_map(|i| {
            [s_at("m", Some("a"), i * MINUTE_MS, i as f64), s_at("m", Some("b"), i * MINUTE_MS, i as f64)]
        })
        .collect();
    store.insert_batch(t.id, &batch).await.unwrap();
    store.insert_batch(other.id, &batch).await.unwrap();
    store.close_until(t.id, at(M0 + 10 * MINUTE_MS)).await.unwrap();
    store.insert_batch(t.id, &[s_at("m", Some("a"), MINUTE_MS + 5_000, 1.5)]).await.unwrap();
    let series = store.series(t.id, &filter("m")).await.unwrap();

    let (deleted, calls) = expire_all(store, t.id, Expiring::Raw, at(M0 + 5 * MINUTE_MS), 3).await;
    assert_eq!(deleted, 9, "11 samples before the cut-off, the dirty minute's two kept");
    assert!(calls >= 3, "in chunks of at most 3: {calls} calls");
    let left_a: Vec<_> =
        points(store, t.id, series[0].id).await.into_iter().map(|p| p.0.as_millis() - M0).collect();
    assert_eq!(left_a, vec![60_000, 65_000, 300_000, 360_000, 420_000, 480_000, 540_000]);
    assert_eq!(points(store, t.id, series[1].id).await.len(), 5);
    let untouched = store.series(other.id, &filter("m")).await.unwrap();
    assert_eq!(points(store, other.id, untouched[0].id).await.len(), 10, "other tenants keep theirs");

    let buckets: Vec<SeriesBucket> = (0..10)
        .map(|i| (series[1].id, at(M0 + i * MINUTE_MS), bucket(&[(M0 + i * MINUTE_MS, 1.0)])))
        .collect();
    store.write_buckets(t.id, Resolution::OneMinute, &buckets).await.unwrap();
    store.write_buckets(t.id, Resolution::FiveMinutes, &buckets[..2]).await.unwrap();
    assert_eq!(expire_all(store, t.id, Expiring::OneMinute, at(M0 + 4 * MINUTE_MS), 2).await.0, 4);
    assert_eq!(expire_all(store, t.id, Expiring::FiveMinutes, at(M0 + MINUTE_MS), 2).await.0, 1);
    let left = store
        .read_buckets(t.id, Resolution::OneMinute, &[series[1].id], at(0), at(i64::MAX), None)
        .await
        .unwrap();
    assert_eq!(left[0].1.len(), 6);

    let old = with_dedupe(s_at("d", None, 0, 1.0), "id-old");
    let new = with_dedupe(s_at("d", None, 10 * MINUTE_MS, 2.0), "id-new");
    store.insert_batch(t.id, &[old.clone(), new.clone()]).await.unwrap();
    assert_eq!(expire_all(store, t.id, Expiring::DedupeIds, at(M0 + MINUTE_MS), 10).await.0, 1);
    let replay = store.insert_batch(t.id, &[old, new]).await.unwrap();
    assert_eq!(replay.duplicates, vec![1], "the expired id is forgotten, the recent one still known");
}
