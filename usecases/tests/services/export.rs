use std::time::Duration;

use futures::TryStreamExt;
use microdash_domain::Resolution;
use microdash_domain::export::ExportSpec;
use microdash_usecases::export::{ExportLink, ExportOptions};
use microdash_usecases::query::{QueryOptions, QueryParams};
use microdash_usecases::{ExportError, ExportService, Principal, Signer};

use crate::fixture::{DAY, HOUR, MIN, NOW, World, params, sample, tagged};

fn service(w: &World, rows_per_chunk: usize) -> ExportService {
    let s = w.store.clone();
    ExportService::new(
        s.clone(),
        s,
        Signer::new(b"test secret"),
        w.clock.clone(),
        QueryOptions::default(),
        ExportOptions { link_ttl: Duration::from_secs(600), rows_per_chunk },
    )
}

async fn csv(svc: &ExportService, link: &ExportLink) -> Result<Vec<String>, ExportError> {
    let export = svc.open(&link.id, &link.signature).await?;
    export.body.try_collect().await
}

async fn create(svc: &ExportService, who: &Principal, p: QueryParams) -> ExportLink {
    svc.create(who, p).await.unwrap()
}

#[tokio::test]
async fn an_export_streams_every_raw_point_as_rfc_4180_csv_in_bounded_chunks() {
    // Arrange: 250 points of a series whose tag value needs quoting, and a second series.
    let w = World::new().await;
    let mut data: Vec<_> = (0..250)
        .map(|i| tagged(sample("cpu", Some("h1"), NOW - HOUR + i * 1000, i as f64), &[("note", "a,\"b\"")]))
        .collect();
    data.push(sample("cpu", Some("h2"), NOW - HOUR, 0.5));
    w.insert(&w.alpha, &data).await;
    let svc = service(&w, 100);

    // Act
    let link = create(&svc, &w.alpha, params("cpu", NOW - HOUR, NOW)).await;
    let chunks = csv(&svc, &link).await.unwrap();

    // Assert
    assert_eq!(link.resolution, Resolution::Raw);
    assert!(link.path().starts_with(&format!("/api/v1/exports/{}?sig=", link.id)));
    assert_eq!(chunks[0], "metric,agent_id,tags,time,value\r\n");
    assert!(chunks.len() >= 4, "250 rows in chunks of 100, then the next series: {}", chunks.len());
    assert!(chunks.iter().all(|c| c.matches("\r\n").count() <= 100));
    let body = chunks.concat();
    let rows: Vec<&str> = body.split_terminator("\r\n").collect();
    assert_eq!(rows.len(), 1 + 251);
    assert_eq!(rows[1], "cpu,h1,\"{\"\"note\"\":\"\"a,\\\"\"b\\\"\"\"\"}\",2026-11-22T09:00:00.000Z,0");
    assert_eq!(rows[250], "cpu,h1,\"{\"\"note\"\":\"\"a,\\\"\"b\\\"\"\"\"}\",2026-11-22T09:04:09.000Z,249");
    assert_eq!(rows[251], "cpu,h2,{},2026-11-22T09:00:00.000Z,0.5");
}

#[tokio::test]
async fn a_tampered_or_expired_link_is_refused() {
    let w = World::new().await;
    w.insert(&w.alpha, &[sample("cpu", None, NOW - MIN, 1.0)]).await;
    let svc = service(&w, 1000);
    let link = create(&svc, &w.alpha, params("cpu", NOW - HOUR, NOW)).await;

    // Another range in the id, or another signature: refused.
    let mut spec = ExportSpec::decode(&link.id).unwrap();
    spec.start = spec.start.plus_millis(-DAY);
    let forged = ExportLink { id: spec.encode(), ..link.clone() };
    assert!(matches!(csv(&svc, &forged).await, Err(ExportError::LinkInvalid)));
    let mut bad_sig = link.clone();
    bad_sig.signature = "0".repeat(64);
    assert!(matches!(csv(&svc, &bad_sig).await, Err(ExportError::LinkInvalid)));
    bad_sig.signature = "zz".into();
    assert!(matches!(csv(&svc, &bad_sig).await, Err(ExportError::LinkInvalid)));
    let other_secret = ExportService::new(
        w.store.clone(),
        w.store.clone(),
        Signer::new(b"another secret"),
        w.clock.clone(),
        QueryOptions::default(),
        ExportOptions::default(),
    );
    assert!(matches!(csv(&other_secret, &link).await, Err(ExportError::LinkInvalid)));

    // Within its lifetime it works; a millisecond after, it does not.
    w.advance(600_000);
    assert_eq!(csv(&svc, &link).await.unwrap().concat().lines().count(), 2);
    w.advance(1);
    assert!(matches!(csv(&svc, &link).await, Err(ExportError::LinkExpired(_))));
}

#[tokio::test]
async fn a_link_reads_only_the_tenant_it_was_made_for() {
    let w = World::new().await;
    w.insert(&w.alpha, &[sample("cpu", None, NOW - MIN, 1.0)]).await;
    let svc = service(&w, 1000);

    // Beta's export of the same metric holds nothing of alpha's.
    let beta_link = create(&svc, &w.beta, params("cpu", NOW - HOUR, NOW)).await;
    assert_eq!(csv(&svc, &beta_link).await.unwrap().concat(), "metric,agent_id,tags,time,value\r\n");

    // Pointing beta's link at alpha breaks its signature.
    let mut spec = ExportSpec::decode(&beta_link.id).unwrap();
    spec.tenant = w.alpha.tenant;
    let forged = ExportLink { id: spec.encode(), ..beta_link };
    assert!(matches!(csv(&svc, &forged).await, Err(ExportError::LinkInvalid)));
}

#[tokio::test]
async fn auto_exports_the_finest_resolution_still_kept_and_merges_with_group_none() {
    // Arrange: two agents, two days ago (raw kept 24 h, so 1m).
    let w = World::new().await;
    w.insert(
        &w.alpha,
        &[sample("cpu", Some("a"), NOW - 2 * DAY, 1.0), sample("cpu", Some("b"), NOW - 2 * DAY + 1000, 3.0)],
    )
    .await;
    w.fold().await;
    let svc = service(&w, 1000);

    // Act
    let link = create(&svc, &w.alpha, params("cpu", NOW - 3 * DAY, NOW)).await;
    let mut merged = params("cpu", NOW - 3 * DAY, NOW);
    merged.group = Some("none".into());
    let merged_link = create(&svc, &w.alpha, merged).await;
    let mut raw_merged = params("cpu", NOW - HOUR, NOW);
    raw_merged.group = Some("none".into());

    // Assert
    assert_eq!(link.resolution, Resolution::OneMinute);
    let body = csv(&svc, &link).await.unwrap().concat();
    assert_eq!(
        body,
        "metric,agent_id,tags,time,avg,min,max,count\r\n\
         cpu,a,{},2026-11-20T10:00:00.000Z,1,1,1,1\r\n\
         cpu,b,{},2026-11-20T10:00:00.000Z,3,3,3,1\r\n"
    );
    let body = csv(&svc, &merged_link).await.unwrap().concat();
    assert!(body.ends_with("cpu,,{},2026-11-20T10:00:00.000Z,2,1,3,2\r\n"), "{body}");
    assert!(matches!(
        svc.create(&w.alpha, raw_merged).await,
        Err(ExportError::Query(microdash_usecases::QueryError::InvalidParameter { field: "group", .. }))
    ));
    let mut paged = params("cpu", NOW - HOUR, NOW);
    paged.limit = Some(3);
    assert!(matches!(
        svc.create(&w.alpha, paged).await,
        Err(ExportError::Query(microdash_usecases::QueryError::InvalidParameter { field: "limit", .. }))
    ));
}
