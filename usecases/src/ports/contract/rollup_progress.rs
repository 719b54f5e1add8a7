//! Contract of [`RollupProgress`]: the rollup job's progress and late-sample marks.

use super::*;

/// A new tenant starts closed and folded at its creation minute; closing and folding only
/// move forward; samples for closed minutes mark their bucket dirty (with a new version each
/// time), others do not; clearing a mark needs the version that was read.
pub async fn rollup_progress_closes_minutes_and_marks_late_samples_dirty(store: &dyn Storage) {
    let t = new_tenant(store, "rpa").await;
    let other = new_tenant(store, "rpb").await;
    let created = at(T0 - T0.rem_euclid(MINUTE_MS));
    assert_eq!(store.folded_until(t.id).await.unwrap(), created);
    assert_eq!(store.close_until(t.id, at(M0)).await.unwrap(), FoldRange { from: created, to: at(M0) });
    assert_eq!(
        store.close_until(t.id, at(M0 - MINUTE_MS)).await.unwrap(),
        FoldRange { from: created, to: at(M0) }
    );
    store.mark_folded(t.id, at(M0 + 10 * MINUTE_MS)).await.unwrap();
    assert_eq!(store.folded_until(t.id).await.unwrap(), at(M0), "never folded past the close point");
    store.mark_folded(t.id, at(M0 - MINUTE_MS)).await.unwrap();
    assert_eq!(store.folded_until(t.id).await.unwrap(), at(M0), "never moves back");

    store.insert_batch(t.id, &[s_at("m", None, -30_000, 1.0), s_at("m", None, 5_000, 2.0)]).await.unwrap();
    let id = only_series(store, t.id, "m").await;
    let dirty = store.dirty_buckets(t.id, 10).await.unwrap();
    assert_eq!(dirty.len(), 1, "only the closed minute is dirty: {dirty:?}");
    assert_eq!((dirty[0].series, dirty[0].minute), (id, at(M0 - MINUTE_MS)));

    store.insert_batch(t.id, &[s_at("m", None, -20_000, 3.0)]).await.unwrap();
    let again = store.dirty_buckets(t.id, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].version, dirty[0].version, "another late sample changes the version");
    store.clear_dirty(t.id, &dirty).await.unwrap();
    assert_eq!(store.dirty_buckets(t.id, 10).await.unwrap(), again, "a stale version clears nothing");
    assert!(store.dirty_buckets(other.id, 10).await.unwrap().is_empty(), "marks are per tenant");
    store.clear_dirty(other.id, &again).await.unwrap();
    assert_eq!(store.dirty_buckets(t.id, 10).await.unwrap(), again, "nor does another tenant");
    store.clear_dirty(t.id, &again).await.unwrap();
    assert!(store.dirty_buckets(t.id, 10).await.unwrap().is_empty());
}

/// Absorbing merges a dirty minute's raw samples into its 1m and 5m buckets and deletes
/// them, so a second absorb adds nothing.
pub async fn rollup_progress_absorbs_late_samples_exactly_once(store: &dyn Storage) {
    let t = new_tenant(store, "rpc").await;
    store.insert_batch(t.id, &[s_at("m", None, 0, 1.0)]).await.unwrap();
    let id = only_series(store, t.id, "m").await;
    store.close_until(t.id, at(M0 + 10 * MINUTE_MS)).await.unwrap();
    let stored_minute = bucket(&[(M0, 1.0), (M0 + 1, 2.0)]);
    let stored_five = bucket(&[(M0, 1.0), (M0 + 1, 2.0), (M0 + 2 * MINUTE_MS, 4.0)]);
    store.write_buckets(t.id, Resolution::OneMinute, &[(id, at(M0), stored_minute)]).await.unwrap();
    store.write_buckets(t.id, Resolution::FiveMinutes, &[(id, at(M0), stored_five)]).await.unwrap();
    store.insert_batch(t.id, &[s_at("m", None, 10_000, 10.0)]).await.unwrap();
    let dirty = store.dirty_buckets(t.id, 10).await.unwrap();
    assert_eq!(dirty.len(), 1);

    // Both raw samples of the minute (the first one's too, still there) are absorbed.
    assert_eq!(store.absorb_late(t.id, &dirty).await.unwrap(), 2);

    let mut minute = stored_minute;
    minute.merge(&bucket(&[(M0, 1.0), (M0 + 10_000, 10.0)]));
    let mut five = stored_five;
    five.merge(&bucket(&[(M0, 1.0), (M0 + 10_000, 10.0)]));
    let ids = [id];
    let read = |r| store.read_buckets(t.id, r, &ids, at(M0), at(M0), None);
    assert_eq!(read(Resolution::OneMinute).await.unwrap(), vec![(id, vec![(at(M0), minute)])]);
    assert_eq!(read(Resolution::FiveMinutes).await.unwrap(), vec![(id, vec![(at(M0), five)])]);
    assert!(points(store, t.id, id).await.is_empty(), "absorbed samples are gone");
    assert!(store.dirty_buckets(t.id, 10).await.unwrap().is_empty());
    assert_eq!(store.absorb_late(t.id, &dirty).await.unwrap(), 0, "nothing twice");
    assert_eq!(read(Resolution::OneMinute).await.unwrap(), vec![(id, vec![(at(M0), minute)])]);
}
