use std::time::Duration;

use microdash_domain::rollup::{FIVE_MINUTES_MS, fold, fold_into_buckets};
use microdash_domain::{Bucket, Resolution, Retention, Timestamp};
use microdash_usecases::ports::{RollupStore, SeriesFilter, SeriesId, SeriesReader, TenantRepo};

use crate::fixture::{DAY, HOUR, MIN, NOW, World, sample, ts};

async fn series_id(w: &World, metric: &str) -> SeriesId {
    let filter = SeriesFilter {
        metric: microdash_domain::MetricName::new(metric).unwrap(),
        agent: None,
        tags: Default::default(),
    };
    w.store.series(w.alpha.tenant, &filter).await.unwrap()[0].id
}

async fn stored(w: &World, r: Resolution, id: SeriesId) -> Vec<(Timestamp, Bucket)> {
    let all = w.store.read_buckets(w.alpha.tenant, r, &[id], ts(0), ts(i64::MAX), None).await.unwrap();
    all.into_iter().flat_map(|(_, b)| b).collect()
}

/// One sample per second over `[from, to)`, values following a saw-tooth with a few spikes.
fn per_second(metric: &str, from: i64, to: i64) -> Vec<microdash_domain::Sample> {
    (from..to)
        .step_by(1000)
        .map(|t| {
            sample(metric, None, t, ((t / 1000) % 17) as f64 + if t % 97_000 == 0 { 500.0 } else { 0.0 })
        })
        .collect()
}

#[tokio::test]
async fn closed_minutes_fold_into_1m_and_5m_buckets_and_a_rerun_changes_nothing() {
    // Arrange: 20 minutes of 1 s samples up to now.
    let w = World::new().await;
    let raw = per_second("cpu", NOW - 20 * MIN, NOW);
    w.insert(&w.alpha, &raw).await;

    // Act
    let report = w.fold().await;
    let id = series_id(&w, "cpu").await;
    let one = stored(&w, Resolution::OneMinute, id).await;
    let five = stored(&w, Resolution::FiveMinutes, id).await;
    let again = w.fold().await;

    // Assert: minutes up to now minus the 30 s grace are folded, exactly as the domain folds.
    let expected_one: Vec<_> = fold_into_buckets(raw.iter().map(|s| (s.timestamp, s.value)), MIN)
        .into_iter()
        .filter(|(at, _)| at.as_millis() < NOW - MIN)
        .collect();
    let one_folded: Vec<_> = one.iter().filter(|(at, _)| at.as_millis() >= NOW - 20 * MIN).copied().collect();
    assert_eq!(one_folded, expected_one);
    assert_eq!(one_folded.len(), 19, "the minute still within the grace period waits");
    let expected_five: Vec<_> =
        fold_into_buckets(raw.iter().map(|s| (s.timestamp, s.value)), FIVE_MINUTES_MS)
            .into_iter()
            .filter(|(at, _)| at.as_millis() + FIVE_MINUTES_MS <= NOW - MIN)
            .collect();
    assert_eq!(five, expected_five);
    assert_eq!(five.len(), 3);
    assert!(one.iter().any(|(_, b)| b.max >= 500.0), "spikes survive in max");
    assert!(report.minutes > 0 && report.buckets >= 22);
    assert_eq!((again.minutes, again.buckets), (0, 0), "nothing left to fold");
    assert_eq!(stored(&w, Resolution::OneMinute, id).await, one, "a re-run counts nothing twice");
}

#[tokio::test]
async fn a_late_sample_refolds_its_1m_and_5m_buckets_and_nothing_else() {
    // Arrange
    let w = World::new().await;
    w.insert(&w.alpha, &per_second("cpu", NOW - 30 * MIN, NOW - 10 * MIN)).await;
    w.fold().await;
    let id = series_id(&w, "cpu").await;
    let before_one = stored(&w, Resolution::OneMinute, id).await;
    let before_five = stored(&w, Resolution::FiveMinutes, id).await;

    // Act: a sample for a minute folded long ago arrives, out of order.
    let late_at = NOW - 25 * MIN + 500;
    w.insert(&w.alpha, &[sample("cpu", None, late_at, 9_999.0)]).await;
    let report = w.fold().await;

    // Assert
    assert_eq!(report.refolded, 1);
    let after_one = stored(&w, Resolution::OneMinute, id).await;
    let changed: Vec<_> = after_one.iter().filter(|b| !before_one.contains(b)).collect();
    assert_eq!(changed.len(), 1, "only the late sample's minute: {changed:?}");
    let (at, b) = changed[0];
    assert_eq!(at.as_millis(), NOW - 25 * MIN);
    let old = before_one.iter().find(|(a, _)| a == at).unwrap().1;
    assert_eq!((b.count, b.max, b.sum), (old.count + 1, 9_999.0, old.sum + 9_999.0));
    let after_five = stored(&w, Resolution::FiveMinutes, id).await;
    let five_changed: Vec<_> = after_five.iter().filter(|b| !before_five.contains(b)).collect();
    assert_eq!(five_changed.len(), 1);
    assert_eq!((five_changed[0].0.as_millis(), five_changed[0].1.max), (NOW - 25 * MIN, 9_999.0));
    assert_eq!(w.fold().await.refolded, 0, "the mark is gone once folded");
}

#[tokio::test]
async fn late_samples_older_than_raw_retention_are_absorbed_exactly_once() {
    // Arrange: raw kept 2 h; a minute 3 h ago folded, its raw samples then deleted.
    let w = World::new().await;
    let retention = Retention { raw: Duration::from_secs(2 * 3600), ..Retention::default() };
    w.store.set_retention(w.alpha.tenant, retention).await.unwrap();
    let minute = NOW - 3 * HOUR;
    w.insert(&w.alpha, &[sample("cpu", None, minute, 1.0), sample("cpu", None, minute + 1000, 3.0)]).await;
    w.fold().await;
    let s = w.store.clone();
    let retention_job = microdash_usecases::RetentionService::new(
        s.clone(),
        s.clone(),
        s,
        w.clock.clone(),
        Default::default(),
    );
    assert_eq!(retention_job.run_once().await.unwrap().raw, 2);
    let id = series_id(&w, "cpu").await;

    // Act: a late sample for that minute.
    w.insert(&w.alpha, &[sample("cpu", None, minute + 2000, 8.0)]).await;
    let report = w.fold().await;
    let again = w.fold().await;

    // Assert: merged into the stored buckets, not replacing them with a lone sample.
    assert_eq!((report.absorbed, again.absorbed), (1, 0));
    let expected = fold([(ts(minute), 1.0), (ts(minute + 1000), 3.0), (ts(minute + 2000), 8.0)]).unwrap();
    let one = stored(&w, Resolution::OneMinute, id).await;
    assert_eq!(one.iter().find(|(a, _)| a.as_millis() == minute).unwrap().1, expected);
    let five = stored(&w, Resolution::FiveMinutes, id).await;
    assert_eq!(five.iter().find(|(a, _)| a.as_millis() == minute).unwrap().1, expected);
}

#[tokio::test]
async fn a_late_sample_near_the_raw_retention_edge_is_counted_once() {
    // Arrange: raw kept 2 h; a minute 1.5 h ago (still in raw, near the edge) folded.
    let w = World::new().await;
    let retention = Retention { raw: Duration::from_secs(2 * 3600), ..Retention::default() };
    w.store.set_retention(w.alpha.tenant, retention).await.unwrap();
    let minute = NOW - 90 * MIN;
    w.insert(&w.alpha, &[sample("cpu", None, minute, 1.0), sample("cpu", None, minute + 1000, 3.0)]).await;
    w.fold().await;
    let id = series_id(&w, "cpu").await;

    // Act: a late sample for that minute, whose earlier samples are all still stored.
    w.insert(&w.alpha, &[sample("cpu", None, minute + 2000, 8.0)]).await;
    w.fold().await;

    // Assert: the bucket holds the three samples once each.
    let expected = fold([(ts(minute), 1.0), (ts(minute + 1000), 3.0), (ts(minute + 2000), 8.0)]).unwrap();
    let one = stored(&w, Resolution::OneMinute, id).await;
    assert_eq!(one.iter().find(|(a, _)| a.as_millis() == minute).unwrap().1, expected);
    let five = stored(&w, Resolution::FiveMinutes, id).await;
    assert_eq!(five.iter().find(|(a, _)| a.as_millis() == minute).unwrap().1, expected);
}

#[tokio::test]
async fn a_new_tenants_backfill_is_folded_as_late_data_and_a_backlog_in_steps() {
    // Arrange: the job has not run for two days; a sample older than the tenant arrives too.
    let w = World::new().await;
    w.insert(&w.alpha, &[sample("cpu", None, NOW - 40 * DAY - 10 * MIN, 5.0)]).await;
    w.insert(&w.alpha, &per_second("cpu", NOW - 2 * DAY, NOW - 2 * DAY + 2 * MIN)).await;

    // Act
    let report = w.fold().await;

    // Assert
    let id = series_id(&w, "cpu").await;
    let one = stored(&w, Resolution::OneMinute, id).await;
    assert_eq!(one.len(), 3, "the backfilled minute and the two old ones: {one:?}");
    assert_eq!(one[0].1.sum, 5.0);
    assert_eq!(report.absorbed, 1, "older than raw retention: merged into its buckets");
    assert_eq!(w.store.folded_until(w.alpha.tenant).await.unwrap().as_millis(), NOW - MIN);
}
