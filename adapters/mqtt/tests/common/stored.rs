//! Reading back what an MQTT test stored, shared by the endpoint and the bridge suites (each
//! includes this file with `#[path]`).

use std::time::{Duration, Instant};

use microdash_domain::{TenantId, Timestamp};
use microdash_usecases::QueryService;
use microdash_usecases::query::RawQueryParams;

/// A stored point: (agent, timestamp ms, value).
pub type Point = (String, i64, f64);

/// Points of `metric` stored for `tenant` in the day before `now_ms`, earliest first.
pub async fn stored(query: &QueryService, tenant: TenantId, metric: &str, now_ms: i64) -> Vec<Point> {
    let params = RawQueryParams {
        name: metric.to_owned(),
        start: Some(Timestamp::from_millis(now_ms - 86_400_000)),
        end: Some(Timestamp::from_millis(now_ms + 600_000)),
        ..Default::default()
    };
    let outcome = query.query_raw(tenant, params).await.unwrap();
    let mut points: Vec<_> = outcome
        .result
        .series
        .iter()
        .flat_map(|s| {
            let agent = s.agent.as_ref().map(|a| a.to_string()).unwrap_or_default();
            s.points.iter().map(move |(ts, v)| (agent.clone(), ts.as_millis(), *v))
        })
        .collect();
    points.sort_by_key(|p| p.1);
    points
}

/// Waits (at most `within`) until `count` points of `metric` are stored, and returns them.
pub async fn stored_eventually(
    query: &QueryService,
    tenant: TenantId,
    metric: &str,
    count: usize,
    now_ms: impl Fn() -> i64,
    within: Duration,
) -> Vec<Point> {
    let deadline = Instant::now() + within;
    loop {
        let points = stored(query, tenant, metric, now_ms()).await;
        if points.len() >= count {
            return points;
        }
        assert!(Instant::now() < deadline, "only {} of {count} points of {metric} stored", points.len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
