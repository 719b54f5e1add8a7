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
