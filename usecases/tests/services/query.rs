use std::collections::BTreeSet;

use microdash_domain::agent_status::AgentStatus;
use microdash_domain::rollup::{fold, fold_into_buckets};
use microdash_domain::{AgentId, Resolution, Timestamp};
use microdash_usecases::QueryError;
use microdash_usecases::ports::{AgentRegistry, AgentSeen};
use microdash_usecases::query::{Points, QueryOptions, QueryOutcome, QueryParams};

use crate::fixture::{DAY, HOUR, MIN, NOW, World, params, sample, tagged, ts};

fn field(r: Result<QueryOutcome, QueryError>) -> &'static str {
    match r {
        Err(QueryError::InvalidParameter { field, .. }) => field,
        other => panic!("expected InvalidParameter, got {other:?}"),
    }
}

fn raw(p: &Points) -> &Vec<(Timestamp, f64)> {
    match p {
        Points::Raw(p) => p,
        Points::Buckets(_) => panic!("expected raw points"),
    }
}

fn buckets(p: &Points) -> &Vec<(Timestamp, microdash_domain::Bucket)> {
    match p {
        Points::Buckets(b) => b,
        Points::Raw(_) => panic!("expected buckets"),
    }
}

#[tokio::test]
async fn bad_parameters_are_refused_naming_the_parameter() {
    let w = World::new().await;
    let p = |f: fn(&mut QueryParams)| {
        let mut p = QueryParams { name: "m".into(), ..Default::default() };
        f(&mut p);
        p
    };
    let table: Vec<(QueryParams, &str)> = vec![
        (p(|p| p.name = "9x".into()), "name"),
        (p(|p| p.agent_id = Some("a b".into())), "agent_id"),
        (p(|p| p.tags = vec![(String::new(), "v".into())]), "tags"),
        (p(|p| (p.start, p.end) = (Some(ts(2)), Some(ts(1)))), "start"),
        (p(|p| p.start = Some(ts(NOW - 36 * DAY))), "start"),
        (p(|p| p.resolution = Some("10s".into())), "resolution"),
        (p(|p| p.max_points = Some(1)), "max_points"),
        (p(|p| p.max_points = Some(10_001)), "max_points"),
        (p(|p| p.group = Some("agent".into())), "group"),
        (p(|p| p.cursor = Some("not-a-cursor".into())), "cursor"),
        (p(|p| p.limit = Some(0)), "limit"),
        (p(|p| (p.limit, p.resolution) = (Some(5), Some("1m".into()))), "limit"),
    ];
    for (params, expected) in table {
        let debug = format!("{params:?}");
        assert_eq!(field(w.query(&w.alpha, params).await), expected, "{debug}");
    }
}

#[tokio::test]
async fn auto_answers_a_short_range_with_raw_points_and_a_dense_hour_with_1m_buckets() {
    // Arrange: 2 hours at 1 s, folded up to a minute ago.
    let w = World::new().await;
    let data: Vec<_> =
        (0..7200).map(|i| sample("cpu", Some("h1"), NOW - 2 * HOUR + i * 1000, (i % 60) as f64)).collect();
    w.insert(&w.alpha, &data).await;
    w.fold().await;

    // Act
    let ten_minutes = w.query(&w.alpha, params("cpu", NOW - 10 * MIN, NOW)).await.unwrap();
    let hour = w.query(&w.alpha, params("cpu", NOW - HOUR, NOW)).await.unwrap();

    // Assert: raw fits in 1,000 points for 10 minutes; an hour of 3,600 does not.
    assert_eq!((ten_minutes.resolution, ten_minutes.reduced), (Resolution::Raw, false));
    assert_eq!(raw(&ten_minutes.series[0].points).len(), 600);
    assert_eq!((hour.resolution, hour.step_ms, hour.reduced), (Resolution::OneMinute, Some(MIN), false));
    let got = buckets(&hour.series[0].points);
    let expected: Vec<_> = fold_into_buckets(
        data.iter().filter(|s| s.timestamp.as_millis() >= NOW - HOUR).map(|s| (s.timestamp, s.value)),
        MIN,
    )
    .into_iter()
    .collect();
    assert_eq!(got, &expected, "stored buckets and the not yet folded last minute alike");
    assert_eq!(
        got.last().unwrap().0.as_millis(),
        NOW - MIN,
        "the newest minute is there, folded at query time"
    );
}

#[tokio::test]
async fn a_long_range_is_reduced_exactly_never_truncated() {
    // Arrange: one sample a minute for 7 days, one spike.
    let w = World::new().await;
    let mut data: Vec<_> =
        (0..7 * 1440).map(|i| sample("cpu", None, NOW - 7 * DAY + i * MIN, (i % 10) as f64)).collect();
    data[5_000].value = 1e6;
    w.insert(&w.alpha, &data).await;
    w.fold().await;

    // Act
    let week = w.query(&w.alpha, params("cpu", NOW - 7 * DAY, NOW)).await.unwrap();

    // Assert: 5m merged to 15m buckets, whose stats are those of the raw samples.
    assert_eq!(
        (week.resolution, week.step_ms, week.reduced),
        (Resolution::FiveMinutes, Some(15 * MIN), true)
    );
    let b = buckets(&week.series[0].points);
    assert!(b.len() <= 1000 && b.len() >= 670, "{}", b.len());
    let window = b[10].0.as_millis();
    let expected = fold(
        data.iter()
            .filter(|s| (window..window + 15 * MIN).contains(&s.timestamp.as_millis()))
            .map(|s| (s.timestamp, s.value)),
    )
    .unwrap();
    assert_eq!(b[10].1, expected);
    assert_eq!(
        b.iter().map(|(_, b)| b.count).sum::<u64>(),
        data.len() as u64,
        "every sample is in some bucket"
    );
    assert!(b.iter().any(|(_, b)| b.max == 1e6), "the spike survives");

    // Raw asked for over a day: min/max downsampling keeps the spike, within the budget.
    let mut p = params("cpu", NOW - 4 * DAY, NOW - 3 * DAY);
    (p.resolution, p.max_points) = (Some("raw".into()), Some(100));
    let day = w.query(&w.alpha, p).await.unwrap();
    assert!(day.reduced);
    let points = raw(&day.series[0].points);
    assert!(points.len() <= 100 && points.len() > 50, "{}", points.len());
    assert!(points.contains(&(data[5_000].timestamp, 1e6)));
}

#[tokio::test]
async fn series_come_per_agent_and_tag_set_paged_by_cursor_or_merged_with_group_none() {
    // Arrange
    let w = World::new().await;
    let mut data = Vec::new();
    for agent in ["a1", "a2", "a3", "a4", "a5"] {
        for i in 0..3 {
            data.push(tagged(sample("cpu", Some(agent), NOW - 5 * MIN + i * 1000, i as f64), &[("dc", "x")]));
        }
    }
    data.push(tagged(sample("cpu", Some("a1"), NOW - 5 * MIN, 100.0), &[("dc", "y")]));
    w.insert(&w.alpha, &data).await;
    let svc = w.query_service(QueryOptions { series_per_page: 2, ..Default::default() });

    // Act: page through.
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let mut p = params("cpu", NOW - HOUR, NOW);
        p.cursor = cursor;
        let page = svc.query(&w.alpha, p).await.unwrap();
        assert!(page.series.len() <= 2);
        seen.extend(page.series.iter().map(|s| {
            (
                s.agent.clone().unwrap().to_string(),
                s.tags.iter().map(|(_, v)| v.to_owned()).collect::<String>(),
            )
        }));
        pages += 1;
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }

    // Assert
    assert_eq!(pages, 3);
    let expected = ["a1x", "a1y", "a2x", "a3x", "a4x", "a5x"];
    assert_eq!(seen.iter().map(|(a, t)| format!("{a}{t}")).collect::<Vec<_>>(), expected);

    let mut only_x = params("cpu", NOW - HOUR, NOW);
    only_x.tags = vec![("dc".into(), "x".into())];
    only_x.group = Some("none".into());
    only_x.resolution = Some("1m".into());
    let merged = svc.query(&w.alpha, only_x).await.unwrap();
    assert_eq!(merged.series.len(), 1);
    let b = buckets(&merged.series[0].points);
    assert_eq!(b.len(), 1);
    assert_eq!(
        (b[0].1.count, b[0].1.min, b[0].1.max, b[0].1.sum),
        (15, 0.0, 2.0, 15.0),
        "all five agents, dc=y left out"
    );
}

#[tokio::test]
async fn a_tenant_never_reads_another_tenants_history_or_agents() {
    let w = World::new().await;
    w.insert(&w.alpha, &[sample("secret", Some("h"), NOW - MIN, 1.0)]).await;
    w.store.record(w.alpha.tenant, &[seen("h", NOW - MIN)]).await.unwrap();
    w.fold().await;
    for resolution in ["raw", "1m", "5m", "auto"] {
        let mut p = params("secret", NOW - HOUR, NOW);
        p.resolution = Some(resolution.into());
        let theirs = w.query(&w.beta, p.clone()).await.unwrap();
        assert!(theirs.series.is_empty(), "{resolution}: {theirs:?}");
        let own = w.query(&w.alpha, p).await.unwrap();
        assert_eq!(own.series.len(), 1, "{resolution}: the owner sees it, so the data is there: {own:?}");
    }
    let mut page = params("secret", 0, NOW);
    page.limit = Some(10);
    assert_eq!(w.query(&w.beta, page.clone()).await.unwrap().total, 0);
    assert_eq!(w.query(&w.alpha, page).await.unwrap().total, 1);
    let svc = w.query_service(QueryOptions::default());
    assert_eq!(svc.agents(w.alpha.tenant).await.unwrap().len(), 1);
    assert!(svc.agents(w.beta.tenant).await.unwrap().is_empty());
    assert!(matches!(svc.agent(w.beta.tenant, "h").await, Err(QueryError::UnknownAgent(_))));
}

fn seen(agent: &str, last_sample: i64) -> AgentSeen {
    AgentSeen {
        agent: AgentId::new(agent).unwrap(),
        received_at: ts(last_sample + 20),
        last_sample_at: ts(last_sample),
        samples: 2,
    }
}

#[tokio::test]
async fn the_agents_view_learns_intervals_and_tells_online_from_offline() {
    // Arrange: h1 reports every 10 s, h2 every 30 s but stopped 2 minutes ago.
    let w = World::new().await;
    for i in 0..5 {
        w.store.record(w.alpha.tenant, &[seen("h1", NOW - 40_000 + i * 10_000)]).await.unwrap();
    }
    for i in 0..3 {
        w.store.record(w.alpha.tenant, &[seen("h2", NOW - 180_000 + i * 30_000)]).await.unwrap();
    }
    w.insert(
        &w.alpha,
        &[
            sample("cpu", Some("h1"), NOW, 1.0),
            sample("mem", Some("h1"), NOW, 1.0),
            sample("cpu", Some("h2"), NOW - 2 * MIN, 1.0),
        ],
    )
    .await;
    let svc = w.query_service(QueryOptions::default());

    // Act
    let all = svc.agents(w.alpha.tenant).await.unwrap();
    let h1 = svc.agent(w.alpha.tenant, "h1").await.unwrap();

    // Assert
    let view: Vec<_> = all
        .iter()
        .map(|a| {
            (
                a.info.agent.to_string(),
                a.info.interval.map(|d| d.as_secs()),
                a.status,
                a.metrics.iter().map(|m| m.to_string()).collect::<BTreeSet<_>>(),
            )
        })
        .collect();
    assert_eq!(
        view[0],
        ("h1".into(), Some(10), AgentStatus::Online, BTreeSet::from(["cpu".into(), "mem".into()]))
    );
    assert_eq!(view[1], ("h2".into(), Some(30), AgentStatus::Offline, BTreeSet::from(["cpu".into()])));
    assert_eq!(h1.info.samples, 10);
    assert!(matches!(svc.agent(w.alpha.tenant, "h9").await, Err(QueryError::UnknownAgent(_))));
    w.advance(21_000);
    assert_eq!(
        svc.agent(w.alpha.tenant, "h1").await.unwrap().status,
        AgentStatus::Offline,
        "silent for more than 2 intervals"
    );
}

#[tokio::test]
async fn the_default_range_is_the_last_hour_and_raw_pages_keep_their_total() {
    let w = World::new().await;
    w.insert(&w.alpha, &(0..5).map(|i| sample("m", None, NOW - 2 * HOUR + i, 1.0)).collect::<Vec<_>>()).await;
    let out = w.query(&w.alpha, QueryParams { name: "m".into(), ..Default::default() }).await.unwrap();
    assert_eq!((out.start.as_millis(), out.end.as_millis()), (NOW - HOUR, NOW));
    let mut page = params("m", 0, NOW);
    page.limit = Some(2);
    let out = w.query(&w.alpha, page).await.unwrap();
    assert_eq!((out.total, out.truncated, raw(&out.series[0].points).len()), (5, true, 2));
}
