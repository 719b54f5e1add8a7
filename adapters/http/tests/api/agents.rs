use std::time::Duration;

use crate::helpers::{NOW, spawn_api};

#[tokio::test]
async fn agents_show_their_learnt_interval_status_and_metrics() {
    // Arrange: h1 reports every 10 s (three reports, each flushed on its own), then falls silent.
    let api = spawn_api().await;
    for i in 0..3 {
        let body = format!(
            r#"[{{"name":"cpu","value":1,"ts":{t},"agent_id":"h1"}},{{"name":"mem","value":2,"ts":{t},"agent_id":"h1"}}]"#,
            t = NOW + i * 10_000
        );
        assert_eq!(api.post_json(&api.alpha, &body).await.0.status(), 202);
        api.flush().await;
        api.clock.advance(Duration::from_secs(10));
    }

    // Act
    let (status, list) = api.get_json(&api.alpha, "/api/v1/agents").await;
    let (_, one) = api.get_json(&api.alpha, "/api/v1/agents/h1").await;
    api.clock.advance(Duration::from_secs(15));
    let (_, later) = api.get_json(&api.alpha, "/api/v1/agents/h1").await;

    // Assert
    assert_eq!(status, 200);
    let h1 = &list["agents"][0];
    assert_eq!(
        (h1["agent_id"].as_str(), h1["interval_ms"].as_u64(), h1["status"].as_str()),
        (Some("h1"), Some(10_000), Some("online"))
    );
    assert_eq!(h1["metrics"], serde_json::json!(["cpu", "mem"]));
    assert_eq!(h1["samples"], 6);
    assert_eq!(one["agent_id"], "h1");
    assert_eq!(one["metrics"], h1["metrics"]);
    assert_eq!(later["status"], "offline", "silent for 25 s, more than twice 10 s: {later}");
}

#[tokio::test]
async fn an_unknown_agent_is_404_also_when_another_tenant_has_it() {
    let api = spawn_api().await;
    let body = r#"{"name":"cpu","value":1,"agent_id":"alpha-only"}"#;
    assert_eq!(api.post_json(&api.alpha, body).await.0.status(), 202);
    api.flush().await;

    let (status, err) = api.get_json(&api.beta, "/api/v1/agents/alpha-only").await;
    let (missing, _) = api.get_json(&api.alpha, "/api/v1/agents/nobody").await;
    let (_, list) = api.get_json(&api.beta, "/api/v1/agents").await;
    let (found, _) = api.get_json(&api.alpha, "/api/v1/agents/alpha-only").await;

    assert_eq!((status, err["code"].as_str()), (404, Some("unknown_agent")));
    assert_eq!(missing, 404);
    assert_eq!(list["agents"].as_array().map(Vec::len), Some(0));
    assert_eq!(found, 200);
}
