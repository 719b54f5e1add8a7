use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::helpers::{eventually, get_json, start_server};

async fn post(client: &reqwest::Client, url: &str, token: &str, body: String) -> (u16, Value) {
    let resp = client
        .post(format!("{url}/api/v1/metrics"))
        .bearer_auth(token)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn sigterm_drains_every_accepted_sample_into_the_store_and_exits_zero() {
    // Arrange: a real server on a fresh data directory.
    let dir = TempDir::new().unwrap();
    let server = start_server(dir.path());
    let token = server.demo_token.clone().expect("first start prints the demo token");
    let client = reqwest::Client::new();

    // Act: 40,000 samples accepted, then SIGTERM straight after the last 202.
    let mut accepted = 0;
    let base = chrono::Utc::now().timestamp_millis() - 60_000;
    for i in 0..40 {
        let items: Vec<String> = (0..1000)
            .map(|j| {
                format!(
                    r#"{{"name":"drain","value":{j},"agent_id":"a{i}","ts":{},"dedupe_id":"{i}-{j}"}}"#,
                    base + j
                )
            })
            .collect();
        let (status, r) = post(&client, &server.url, &token, format!("[{}]", items.join(","))).await;
        assert_eq!(status, 202, "{r}");
        accepted += r["accepted"].as_u64().unwrap();
    }
    let status = server.terminate();

    // Assert: clean exit, and after a restart every accepted sample is there, once.
    assert!(status.success(), "exit status {status:?}");
    let restarted = start_server(dir.path());
    assert!(restarted.demo_token.is_none(), "the demo tenant is created only once");
    let query = format!("{}/api/v1/metrics/query?name=drain&start=0&limit=1", restarted.url);
    let (code, q) = get_json(&client, &query, &token).await;
    assert_eq!(code, 200, "{q}");
    assert_eq!(q["total"].as_u64(), Some(accepted));
    assert_eq!(accepted, 40_000);
    let stopped = restarted.terminate();
    assert!(stopped.success());
}

#[tokio::test]
async fn the_readme_walkthrough_works_on_a_fresh_data_directory() {
    let dir = TempDir::new().unwrap();
    let server = start_server(dir.path());
    let token = server.demo_token.clone().expect("demo token printed");
    let client = reqwest::Client::new();
    let (status, _) = post(
        &client,
        &server.url,
        &token,
        r#"{"metric_name":"cpu","value":42.5,"agent_id":"laptop"}"#.into(),
    )
    .await;
    assert_eq!(status, 202);
    let url = format!("{}/api/v1/metrics/query?name=cpu", server.url);
    let seen = eventually(Duration::from_secs(5), || async {
        let (_, q) = get_json(&client, &url, &token).await;
        (q["total"] == 1).then_some(q)
    })
    .await
    .expect("queryable");
    assert_eq!(seen["series"][0]["points"][0]["value"], 42.5);
}
