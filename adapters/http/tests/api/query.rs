use crate::helpers::{NOW, spawn_api};

#[tokio::test]
async fn a_tenant_never_sees_another_tenants_samples_names_or_agents() {
    // Arrange
    let api = spawn_api().await;
    let sample = r#"{"metric_name":"secret.metric","value":1,"agent_id":"alpha-host"}"#;
    assert_eq!(api.post_json(&api.alpha, sample).await.0.status(), 202);
    api.flush().await;

    // Act
    let (_, q) = api.get_json(&api.beta, "/api/v1/metrics/query?name=secret.metric").await;
    let (_, names) = api.get_json(&api.beta, "/api/v1/metrics/names").await;
    let (_, agents) = api.get_json(&api.beta, "/api/v1/agents").await;

    // Assert
    assert_eq!((q["total"].as_u64(), q["series"].as_array().map(Vec::len)), (Some(0), Some(0)));
    assert_eq!(names["names"].as_array().map(Vec::len), Some(0));
    assert_eq!(agents["agents"].as_array().map(Vec::len), Some(0));
    let (_, names) = api.get_json(&api.alpha, "/api/v1/metrics/names").await;
    assert_eq!(names["names"][0], "secret.metric");
    let (_, agents) = api.get_json(&api.alpha, "/api/v1/agents").await;
    assert_eq!(agents["agents"][0]["agent_id"], "alpha-host");
    assert_eq!(agents["agents"][0]["samples"], 1);
}

#[tokio::test]
async fn query_range_agent_filter_and_limit_are_honoured() {
    let api = spawn_api().await;
    let body: Vec<String> = (0..5)
        .map(|i| {
            format!(r#"{{"name":"m","value":{i},"ts":{},"agent_id":"a{}"}}"#, NOW - 5000 + i * 1000, i % 2)
        })
        .collect();
    assert_eq!(api.post_json(&api.alpha, &format!("[{}]", body.join(","))).await.0.status(), 202);
    api.flush().await;

    let (status, q) = api
        .get_json(&api.alpha, &format!("/api/v1/metrics/query?name=m&start={}&agent_id=a0", NOW - 5000))
        .await;
    assert_eq!(status, 200);
    let values: Vec<f64> =
        q["series"][0]["points"].as_array().unwrap().iter().map(|p| p["value"].as_f64().unwrap()).collect();
    assert_eq!(values, vec![0.0, 2.0, 4.0]);

    let (_, q) =
        api.get_json(&api.alpha, "/api/v1/metrics/query?name=m&start=2026-11-22T09:59:55Z&limit=2").await;
    assert_eq!((q["total"].as_u64(), q["truncated"].as_bool()), (Some(5), Some(true)));
    let returned: usize =
        q["series"].as_array().unwrap().iter().map(|s| s["points"].as_array().unwrap().len()).sum();
    assert_eq!(returned, 2);
}

#[tokio::test]
async fn bad_query_parameters_get_400_naming_the_parameter() {
    let api = spawn_api().await;
    for (query, field) in [
        ("name=m&start=yesterday", "start"),
        ("name=m&start=2000&end=1000", "start"),
        ("name=m&limit=0", "limit"),
        ("name=9m", "name"),
        ("name=m&limit=abc", "limit"),
        ("start=1", "name"),
    ] {
        let (status, err) = api.get_json(&api.alpha, &format!("/api/v1/metrics/query?{query}")).await;
        assert_eq!(status, 400, "{query}: {err}");
        assert_eq!(err["errors"][0]["field"], field, "{query}: {err}");
    }
}

#[tokio::test]
async fn read_endpoints_require_a_token() {
    let api = spawn_api().await;
    for path in ["/api/v1/metrics/query?name=m", "/api/v1/metrics/names", "/api/v1/agents"] {
        let resp = api.client.get(path).send().await;
        assert_eq!(resp.0.status().as_u16(), 401, "{path}");
    }
}

/// Three hours after the tenants were created: history tests post samples up to two hours old,
/// which are then not older than their tenant (those would be late data for the rollup job).
const LATER: i64 = NOW + 3 * 3_600_000;

async fn spawn_later() -> crate::helpers::TestApi {
    let api = spawn_api().await;
    api.clock.advance(std::time::Duration::from_millis((LATER - NOW) as u64));
    api
}

/// Posts `n` samples of `metric` one second apart, ending a second before [`LATER`].
async fn seconds(api: &crate::helpers::TestApi, metric: &str, agent: &str, n: i64, tags: &str) {
    let items: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"name":"{metric}","value":{},"ts":{},"agent_id":"{agent}","tags":{tags}}}"#,
                i % 7,
                LATER - (n - i) * 1000
            )
        })
        .collect();
    for chunk in items.chunks(5_000) {
        assert_eq!(api.post_json(&api.alpha, &format!("[{}]", chunk.join(","))).await.0.status(), 202);
    }
    api.flush().await;
}

#[tokio::test]
async fn auto_resolution_is_reported_and_buckets_carry_avg_min_max_count() {
    // Arrange: two hours at 1 s.
    let api = spawn_later().await;
    seconds(&api, "cpu", "h1", 7_200, "{}").await;

    // Act
    let (_, short) =
        api.get_json(&api.alpha, &format!("/api/v1/metrics/query?name=cpu&start={}", LATER - 600_000)).await;
    let (_, hour) = api.get_json(&api.alpha, "/api/v1/metrics/query?name=cpu").await;
    let (_, two_hours) = api
        .get_json(
            &api.alpha,
            &format!(
                "/api/v1/metrics/query?name=cpu&start={}&max_points=50&resolution=1m",
                LATER - 7_200_000
            ),
        )
        .await;

    // Assert
    assert_eq!(short["resolution"], "raw");
    assert_eq!(short["series"][0]["points"].as_array().unwrap().len(), 600);
    assert!(
        short["series"][0]["points"][0]["avg"].is_null()
            && short["series"][0]["points"][0]["value"].is_number()
    );
    assert_eq!(
        (hour["resolution"].as_str(), hour["step_ms"].as_i64(), hour["reduced"].as_bool()),
        (Some("1m"), Some(60_000), Some(false))
    );
    let bucket = &hour["series"][0]["points"][1];
    assert_eq!(
        (bucket["count"].as_u64(), bucket["min"].as_f64(), bucket["max"].as_f64()),
        (Some(60), Some(0.0), Some(6.0))
    );
    assert!((2.8..=3.2).contains(&bucket["avg"].as_f64().unwrap()), "{bucket}");
    assert!(bucket["value"].is_null());
    assert_eq!((two_hours["step_ms"].as_i64(), two_hours["reduced"].as_bool()), (Some(300_000), Some(true)));
    let points = two_hours["series"][0]["points"].as_array().unwrap();
    assert!(points.len() <= 50);
    assert_eq!(
        points.iter().map(|p| p["count"].as_u64().unwrap()).sum::<u64>(),
        7_200,
        "reduced, nothing dropped"
    );
}

#[tokio::test]
async fn tags_filter_series_and_group_none_merges_them() {
    let api = spawn_later().await;
    seconds(&api, "disk", "h1", 10, r#"{"mount":"/"}"#).await;
    seconds(&api, "disk", "h2", 10, r#"{"mount":"/"}"#).await;
    seconds(&api, "disk", "h1", 10, r#"{"mount":"/var"}"#).await;

    let (_, root) = api.get_json(&api.alpha, "/api/v1/metrics/query?name=disk&tags%5Bmount%5D=%2F").await;
    let (_, merged) = api
        .get_json(&api.alpha, "/api/v1/metrics/query?name=disk&tags%5Bmount%5D=%2F&group=none&resolution=1m")
        .await;

    assert_eq!(root["series"].as_array().unwrap().len(), 2);
    assert!(root["series"].as_array().unwrap().iter().all(|s| s["tags"]["mount"] == "/"));
    assert_eq!(merged["series"].as_array().unwrap().len(), 1);
    let total: u64 =
        merged["series"][0]["points"].as_array().unwrap().iter().map(|p| p["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 20, "both agents' samples on mount /, not /var");
}

#[tokio::test]
async fn bad_ranges_and_resolutions_get_400_naming_the_parameter() {
    let api = spawn_api().await;
    for (query, field) in [
        ("name=m&resolution=10s", "resolution"),
        ("name=m&start=0", "start"),
        ("name=m&max_points=1", "max_points"),
        ("name=m&group=agent", "group"),
        ("name=m&cursor=zz", "cursor"),
        ("name=m&limit=10&resolution=5m", "limit"),
    ] {
        let (status, err) = api.get_json(&api.alpha, &format!("/api/v1/metrics/query?{query}")).await;
        assert_eq!((status, err["code"].as_str()), (400, Some("invalid_parameter")), "{query}: {err}");
        assert_eq!(err["errors"][0]["field"], field, "{query}: {err}");
    }
    let (_, err) = api.get_json(&api.alpha, "/api/v1/metrics/query?name=m&start=0").await;
    assert!(err["message"].as_str().unwrap().contains("longer than the 35d allowed"), "{err}");
}
