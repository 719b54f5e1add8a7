//! Contract of the history ports: reading series, rollup buckets, the rollup job's progress
//! and late-data marks, retention's chunked deletes, tenant retention and agent intervals.
//!
//! Functions take one store that implements every storage port ([`HistoryStore`]), as every
//! adapter's store does; ports are called by their trait name where two share a method name.

use std::time::Duration;

use microdash_domain::rollup::{MINUTE_MS, fold, fold_into_buckets};
use microdash_domain::{
    AgentId, Bucket, MetricName, Resolution, Retention, Sample, Tags, TenantId, Timestamp,
};

use super::super::*;
use super::{T0, new_tenant, sample, with_dedupe, with_tags};

/// Every storage port on one store.
pub trait HistoryStore:
    TenantRepo + SampleStore + SeriesReader + RollupStore + RollupProgress + RetentionStore + AgentRegistry
{
}

impl<S> HistoryStore for S where
    S: TenantRepo
        + SampleStore
        + SeriesReader
        + RollupStore
        + RollupProgress
        + RetentionStore
        + AgentRegistry
{
}

/// A 5-minute boundary after `T0` (when the contract's tenants are created).
const M0: i64 = 1_795_000_200_000;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn filter(metric: &str) -> SeriesFilter {
    SeriesFilter { metric: MetricName::new(metric).unwrap(), agent: None, tags: Tags::empty() }
}

/// A sample `offset_ms` after [`M0`].
fn s_at(metric: &str, agent: Option<&str>, offset_ms: i64, value: f64) -> Sample {
    sample(metric, agent, M0 - T0 + offset_ms, value)
}

async fn only_series(store: &dyn HistoryStore, t: TenantId, metric: &str) -> SeriesId {
    let all = store.series(t, &filter(metric)).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].id
}

async fn points(store: &dyn HistoryStore, t: TenantId, id: SeriesId) -> Vec<(Timestamp, f64)> {
    let read = store.read_points(t, &[id], at(0), at(i64::MAX), None).await.unwrap();
    read.into_iter().flat_map(|(_, p)| p).collect()
}

/// Series are selected by metric, agent and tags, ordered by agent (none first) then tags,
/// read with a per-series limit, and never across tenants.
pub async fn series_reader_selects_orders_and_isolates(store: &dyn HistoryStore) {
    let a = new_tenant(store, "sra").await;
    let b = new_tenant(store, "srb").await;
    let batch = vec![
        with_tags(s_at("cpu", Some("h2"), 0, 1.0), &[("core", "1")]),
        s_at("cpu", Some("h1"), 0, 2.0),
        with_tags(s_at("cpu", Some("h1"), 0, 3.0), &[("core", "0"), ("dc", "x")]),
        s_at("cpu", None, 0, 4.0),
        s_at("mem", Some("h1"), 0, 5.0),
    ];
    store.insert_batch(a.id, &batch).await.unwrap();
    let all = store.series(a.id, &filter("cpu")).await.unwrap();
    let shape: Vec<_> = all
        .iter()
        .map(|s| (s.key.agent.as_ref().map(|a| a.to_string()), s.key.tags.iter().count()))
        .collect();
    assert_eq!(
        shape,
        vec![(None, 0), (Some("h1".into()), 0), (Some("h1".into()), 2), (Some("h2".into()), 1)]
    );

    let mut by_agent = filter("cpu");
    by_agent.agent = Some(AgentId::new("h1").unwrap());
    assert_eq!(store.series(a.id, &by_agent).await.unwrap().len(), 2);
    let mut by_tag = filter("cpu");
    by_tag.tags = with_tags(s_at("x", None, 0, 0.0), &[("core", "0")]).series.tags;
    let tagged = store.series(a.id, &by_tag).await.unwrap();
    assert_eq!(tagged.len(), 1, "a tag filter keeps series carrying that tag among others");
    by_tag.tags = with_tags(s_at("x", None, 0, 0.0), &[("core", "9")]).series.tags;
    assert!(store.series(a.id, &by_tag).await.unwrap().is_empty());

    let mut raw = RawQuery {
        metric: MetricName::new("cpu").unwrap(),
        agent: None,
        tags: with_tags(s_at("x", None, 0, 0.0), &[("core", "1")]).series.tags,
        start: at(0),
        end: at(i64::MAX),
        limit: 100,
    };
    let r = store.query_raw(a.id, &raw).await.unwrap();
    assert_eq!(
        (r.total, r.series.len(), r.series[0].points[0].1),
        (1, 1, 1.0),
        "raw pages filter by tags too"
    );
    raw.tags = Tags::empty();
    assert_eq!(store.query_raw(a.id, &raw).await.unwrap().total, 4);

    let ids = store.series_ids(a.id).await.unwrap();
    assert_eq!(ids.len(), 5);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ascending: {ids:?}");
    assert!(store.series_ids(b.id).await.unwrap().is_empty());
    assert!(store.series(b.id, &filter("cpu")).await.unwrap().is_empty());
    let foreign = store.read_points(b.id, &ids, at(0), at(i64::MAX), None).await.unwrap();
    assert!(foreign.is_empty(), "another tenant's series ids read nothing: {foreign:?}");

    let metrics = store.agent_metrics(a.id, None).await.unwrap();
    let names: Vec<_> = metrics.iter().map(|(a, m)| format!("{a}/{m}")).collect();
    assert_eq!(names, vec!["h1/cpu", "h1/mem", "h2/cpu"]);
    let h2 = AgentId::new("h2").unwrap();
    assert_eq!(store.agent_metrics(a.id, Some(h2)).await.unwrap().len(), 1);
    assert!(store.agent_metrics(b.id, None).await.unwrap().is_empty());
}

/// Points come back in time order, inclusive range, the earliest `limit` per series, one entry
/// per series that has points, in the order asked for.
pub async fn series_reader_reads_points_per_series_with_a_limit(store: &dyn HistoryStore) {
    let t = new_tenant(store, "srp").await;
    let mut batch: Vec<_> = (0..5).rev().map(|i| s_at("m", Some("a"), i * 1000, i as f64)).collect();
    batch.extend((0..3).map(|i| s_at("m", Some("b"), i * 1000, 10.0 + i as f64)));
    batch.push(s_at("m", Some("c"), 60_000, 99.0));
    store.insert_batch(t.id, &batch).await.unwrap();
    let all = store.series(t.id, &filter("m")).await.unwrap();
    let (sa, sb, sc) = (all[0].id, all[1].id, all[2].id);
    let read = store.read_points(t.id, &[sb, sc, sa], at(M0 + 1000), at(M0 + 4000), Some(2)).await.unwrap();
    assert_eq!(
        read,
        vec![
            (sb, vec![(at(M0 + 1000), 11.0), (at(M0 + 2000), 12.0)]),
            (sa, vec![(at(M0 + 1000), 1.0), (at(M0 + 2000), 2.0)]),
        ]
    );
    let whole = store.read_points(t.id, &[sa], at(M0), at(M0 + 4000), None).await.unwrap();
    assert_eq!(whole[0].1.len(), 5, "both ends inclusive");
}

fn bucket(values: &[(i64, f64)]) -> Bucket {
    fold(values.iter().map(|&(t, v)| (at(t), v))).unwrap()
}

/// Buckets are replaced, not added to; read back per series and resolution; never across
/// tenants.
pub async fn rollup_store_replaces_buckets_and_isolates_tenants(store: &dyn HistoryStore) {
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
pub async fn rollup_store_folds_raw_samples_like_the_domain(store: &dyn HistoryStore) {
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

/// A new tenant starts closed and folded at its creation minute; closing and folding only
/// move forward; samples for closed minutes mark their bucket dirty (with a new version each
/// time), others do not; clearing a mark needs the version that was read.
pub async fn rollup_progress_closes_minutes_and_marks_late_samples_dirty(store: &dyn HistoryStore) {
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
pub async fn rollup_progress_absorbs_late_samples_exactly_once(store: &dyn HistoryStore) {
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

async fn expire_all(
    store: &dyn HistoryStore,
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
pub async fn retention_store_deletes_in_chunks_and_keeps_dirty_minutes(store: &dyn HistoryStore) {
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

/// Retention is stored per tenant.
pub async fn tenant_repo_sets_retention(store: &dyn HistoryStore) {
    let t = new_tenant(store, "trr").await;
    let other = new_tenant(store, "trs").await;
    let r = Retention {
        raw: Duration::from_secs(7_200),
        one_minute: Duration::from_secs(86_400),
        five_minutes: Duration::from_secs(90 * 86_400),
    };
    store.set_retention(t.id, r).await.unwrap();
    assert_eq!(store.find_by_slug(&t.slug).await.unwrap().unwrap().retention, r);
    let untouched = store.find_by_slug(&other.slug).await.unwrap().unwrap().retention;
    assert_eq!(untouched, Retention::default(), "only that tenant's retention changes");
    let missing = store.set_retention(TenantId::new(i64::MAX), r).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
}

/// The registry learns each agent's interval from the gaps between the newest sample times
/// of its sightings, and finds one agent of one tenant.
pub async fn agent_registry_learns_intervals_and_finds_one_agent(store: &dyn HistoryStore) {
    let t = new_tenant(store, "ari").await;
    let other = new_tenant(store, "arj").await;
    let seen = |last_sample: i64| AgentSeen {
        agent: AgentId::new("h1").unwrap(),
        received_at: at(T0 + last_sample + 50),
        last_sample_at: at(T0 + last_sample),
        samples: 1,
    };
    let h1 = AgentId::new("h1").unwrap();
    store.record(t.id, &[seen(10_000)]).await.unwrap();
    assert_eq!(store.find(t.id, &h1).await.unwrap().unwrap().interval, None, "one sighting: no interval yet");
    store.record(t.id, &[seen(20_000)]).await.unwrap();
    assert_eq!(store.find(t.id, &h1).await.unwrap().unwrap().interval, Some(Duration::from_secs(10)));
    store.record(t.id, &[seen(50_000)]).await.unwrap();
    store.record(t.id, &[seen(40_000)]).await.unwrap(); // out of order: teaches nothing
    let found = store.find(t.id, &h1).await.unwrap().unwrap();
    assert_eq!(found.interval, Some(Duration::from_millis(15_000)));
    assert_eq!((found.samples, found.last_sample_at), (4, at(T0 + 50_000)));
    assert_eq!(AgentRegistry::list(store, t.id).await.unwrap()[0].interval, found.interval);
    assert!(store.find(t.id, &AgentId::new("h9").unwrap()).await.unwrap().is_none());
    assert!(store.find(other.id, &h1).await.unwrap().is_none(), "agents are per tenant");
}
