use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use microdash_adapter_memory::MemoryStore;
use microdash_domain::{Resolution, Retention, TenantId, Timestamp};
use microdash_usecases::ports::{
    Expired, Expiring, ExpiryCursor, RetentionStore, RollupStore, SeriesFilter, SeriesReader, StoreError,
    TenantRepo,
};
use microdash_usecases::{AdminError, AdminService, RetentionOptions, RetentionService};

use crate::fixture::{DAY, HOUR, MIN, NOW, World, sample, ts};

fn job(w: &World, store: Arc<dyn RetentionStore>, chunk_rows: usize) -> RetentionService {
    let s = w.store.clone();
    RetentionService::new(
        s.clone(),
        s,
        store,
        w.clock.clone(),
        RetentionOptions { chunk_rows, ..Default::default() },
    )
}

async fn counts(w: &World) -> (usize, usize, usize) {
    let f = SeriesFilter {
        metric: microdash_domain::MetricName::new("cpu").unwrap(),
        agent: None,
        tags: Default::default(),
    };
    let ids: Vec<_> = w.store.series(w.alpha.tenant, &f).await.unwrap().into_iter().map(|s| s.id).collect();
    let raw = w.store.read_points(w.alpha.tenant, &ids, ts(0), ts(i64::MAX), None).await.unwrap();
    let one = w
        .store
        .read_buckets(w.alpha.tenant, Resolution::OneMinute, &ids, ts(0), ts(i64::MAX), None)
        .await
        .unwrap();
    let five = w
        .store
        .read_buckets(w.alpha.tenant, Resolution::FiveMinutes, &ids, ts(0), ts(i64::MAX), None)
        .await
        .unwrap();
    let n = |v: Vec<(microdash_usecases::ports::SeriesId, Vec<_>)>| {
        v.into_iter().map(|(_, p)| p.len()).sum::<usize>()
    };
    (raw.into_iter().map(|(_, p)| p.len()).sum(), n(one), n(five))
}

#[tokio::test]
async fn retention_expires_each_resolution_on_time_and_raw_only_once_folded() {
    // Arrange: samples 25 h and 23 h old (raw kept 24 h, 1m 7 d, 5m 30 d).
    let w = World::new().await;
    let retention = job(&w, w.store.clone(), 1_000);
    w.insert(
        &w.alpha,
        &[sample("cpu", None, NOW - 25 * HOUR, 1.0), sample("cpu", None, NOW - 23 * HOUR, 2.0)],
    )
    .await;
    w.insert(&w.beta, &[sample("cpu", None, NOW - 25 * HOUR, 1.0)]).await;

    // Act + Assert: before the rollup job ran, nothing raw goes, however old.
    assert_eq!(retention.run_once().await.unwrap().raw, 0, "raw data is folded before it goes");
    assert_eq!(counts(&w).await, (2, 0, 0));

    w.fold().await;
    let removed = retention.run_once().await.unwrap();
    assert_eq!(removed.raw, 2, "alpha's and beta's 25 h old samples");
    assert_eq!(counts(&w).await, (1, 2, 2));

    w.advance(2 * HOUR);
    let removed = retention.run_once().await.unwrap();
    assert_eq!(
        (removed.raw, removed.one_minute, removed.five_minutes),
        (1, 0, 0),
        "the 23 h old sample, now 25 h"
    );
    assert_eq!(counts(&w).await, (0, 2, 2));
    w.advance(6 * DAY - 90 * MIN);
    assert_eq!(
        retention.run_once().await.unwrap().one_minute,
        2,
        "1m buckets past 7 days, alpha's and beta's"
    );
    assert_eq!(counts(&w).await, (0, 1, 2));
    w.advance(DAY);
    assert_eq!(retention.run_once().await.unwrap().one_minute, 1);
    w.advance(23 * DAY);
    assert_eq!(retention.run_once().await.unwrap().five_minutes, 3, "5m buckets past 30 days");
    assert_eq!(counts(&w).await, (0, 0, 0));
}

/// Counts the rows every call to the store may delete.
struct Recording {
    inner: Arc<MemoryStore>,
    calls: AtomicUsize,
    largest: AtomicUsize,
}

#[async_trait]
impl RetentionStore for Recording {
    async fn delete_expired(
        &self,
        tenant: TenantId,
        what: Expiring,
        before: Timestamp,
        cursor: Option<ExpiryCursor>,
        max_rows: usize,
    ) -> Result<Expired, StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let r = self.inner.delete_expired(tenant, what, before, cursor, max_rows).await?;
        self.largest.fetch_max(r.deleted as usize, Ordering::Relaxed);
        Ok(r)
    }
}

#[tokio::test]
async fn retention_deletes_in_small_chunks_until_everything_expired_is_gone() {
    let w = World::new().await;
    let old: Vec<_> = (0..250).map(|i| sample("cpu", None, NOW - 30 * HOUR + i * 1000, 1.0)).collect();
    w.insert(&w.alpha, &old).await;
    w.fold().await;
    let recording = Arc::new(Recording {
        inner: w.store.clone(),
        calls: AtomicUsize::new(0),
        largest: AtomicUsize::new(0),
    });

    let removed = job(&w, recording.clone(), 40).run_once().await.unwrap();

    assert_eq!(removed.raw, 250);
    assert!(recording.largest.load(Ordering::Relaxed) <= 40);
    assert!(recording.calls.load(Ordering::Relaxed) >= 7, "250 rows take at least 7 chunks of 40");
    assert_eq!(counts(&w).await.0, 0);
}

#[tokio::test]
async fn set_retention_refuses_bad_values_and_the_next_run_applies_it() {
    // Arrange
    let w = World::new().await;
    let admin = AdminService::new(w.store.clone(), w.store.clone(), w.clock.clone());
    let hours = |h: u64| Duration::from_secs(h * 3600);

    // Act + Assert: refused with the flag at fault.
    let too_short = Retention { raw: Duration::from_secs(60), ..Retention::default() };
    match admin.set_retention("alpha", too_short).await {
        Err(AdminError::InvalidValue(m)) => assert!(m.starts_with("--raw"), "{m}"),
        other => panic!("expected InvalidValue, got {other:?}"),
    }
    let inverted = Retention { one_minute: hours(2), ..Retention::default() };
    assert!(
        matches!(admin.set_retention("alpha", inverted).await, Err(AdminError::InvalidValue(m)) if m.starts_with("--1m"))
    );
    assert!(matches!(
        admin.set_retention("nope", Retention::default()).await,
        Err(AdminError::UnknownTenant(_))
    ));

    let short = Retention { raw: hours(2), one_minute: hours(3), five_minutes: hours(4) };
    let tenant = admin.set_retention("alpha", short).await.unwrap();
    assert_eq!(tenant.retention, short);
    w.insert(&w.alpha, &[sample("cpu", None, NOW - 150 * MIN, 1.0)]).await;
    w.insert(&w.beta, &[sample("cpu", None, NOW - 150 * MIN, 2.0)]).await;
    w.fold().await;
    let removed = job(&w, w.store.clone(), 100).run_once().await.unwrap();
    assert_eq!(removed.raw, 1, "2.5 h old raw data is past alpha's 2 h retention, not beta's 24 h");
    assert_eq!(w.store.find_by_slug(&tenant.slug).await.unwrap().unwrap().retention, short);
    assert!(w.store.folded_until(w.alpha.tenant).await.unwrap().as_millis() > NOW - 2 * MIN);
}
