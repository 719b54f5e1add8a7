//! Contract of [`SeriesReader`]: selecting series and reading their points.

use super::*;

/// Series are selected by metric, agent and tags, ordered by agent (none first) then tags,
/// read with a per-series limit, and never across tenants.
pub async fn series_reader_selects_orders_and_isolates(store: &dyn Storage) {
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
pub async fn series_reader_reads_points_per_series_with_a_limit(store: &dyn Storage) {
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
