use std::sync::Arc;
use std::time::Duration;

use microdash_adapter_http::HttpOptions;
use microdash_usecases::IngestLimits;
use microdash_usecases::ports::{MockIngestQueue, MockTokenRepo, QueueError, StoreError};
use serde_json::json;

use crate::helpers::{Logs, NOW, Setup, json_of, spawn_api, spawn_with};

#[tokio::test]
async fn a_single_sample_with_a_bearer_token_is_accepted_and_queryable() {
    let api = spawn_api().await;
    let resp = api.post_json(&api.alpha, r#"{"metric_name":"cpu","value":42.5,"agent_id":"web-1"}"#).await;
    let (status, body) = json_of(resp).await;
    assert_eq!(status, 202);
    assert_eq!(body["accepted"], 1);
    assert!(body["request_id"].as_str().is_some_and(|s| !s.is_empty()));
    api.flush().await;
    let (status, q) = api.get_json(&api.alpha, "/api/v1/metrics/query?name=cpu").await;
    assert_eq!(status, 200);
    assert_eq!(q["series"][0]["agent_id"], "web-1");
    assert_eq!(q["series"][0]["points"][0], json!({"t": NOW, "value": 42.5}));
}

#[tokio::test]
async fn an_array_with_the_x_api_token_header_is_accepted() {
    let api = spawn_api().await;
    let resp = api
        .client
        .post("/api/v1/metrics")
        .header("X-API-Token", &api.alpha)
        .header("Content-Type", "application/json; charset=utf-8")
        .body(r#"[{"name":"a","value":1},{"name":"b","value":2,"ts":"2026-11-22T09:59:00Z"}]"#)
        .send()
        .await;
    let (status, body) = json_of(resp).await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(2)));
}

#[tokio::test]
async fn missing_unknown_and_revoked_tokens_get_401_json() {
    let api = spawn_api().await;
    let resp = api.client.post("/api/v1/metrics").content_type("application/json").body("{}").send().await;
    let (status, body) = json_of(resp).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    assert!(body["message"].as_str().unwrap().contains("X-API-Token"));

    let (status, _) = json_of(api.post_json("mdt_notarealtoken", r#"{"name":"a","value":1}"#).await).await;
    assert_eq!(status, 401);

    let id = api.admin.list_tokens("alpha").await.unwrap()[0].id;
    assert_eq!(api.post_json(&api.alpha, r#"{"name":"a","value":1}"#).await.0.status(), 202);
    api.admin.revoke_token(id).await.unwrap();
    api.clock.advance(Duration::from_secs(1));
    let (status, _) = json_of(api.post_json(&api.alpha, r#"{"name":"a","value":1}"#).await).await;
    assert_eq!(status, 401, "revocation takes effect within a second");
}

#[tokio::test]
async fn invalid_items_get_422_naming_every_bad_field_and_nothing_is_stored() {
    let api = spawn_api().await;
    let body =
        r#"[{"name":"ok","value":1},{"name":"9bad","value":"x"},{"name":"ok","value":2,"tags":{"k":1}}]"#;
    let (status, err) = json_of(api.post_json(&api.alpha, body).await).await;
    assert_eq!(status, 422);
    assert_eq!(err["code"], "invalid_samples");
    let errors: Vec<(u64, String)> = err["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["field"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(errors, vec![(1, "metric_name".into()), (1, "value".into()), (2, "tags".into())]);
    api.flush().await;
    let (_, q) = api.get_json(&api.alpha, "/api/v1/metrics/query?name=ok").await;
    assert_eq!(q["total"], 0, "all-or-nothing: the valid item was not stored either");
}

#[tokio::test]
async fn malformed_json_and_empty_batches_get_422() {
    let api = spawn_api().await;
    let (status, err) = json_of(api.post_json(&api.alpha, r#"{"name": "a", "value": 1"#).await).await;
    assert_eq!((status, err["code"].as_str()), (422, Some("invalid_json")));
    let (status, err) = json_of(api.post_json(&api.alpha, "[]").await).await;
    assert_eq!((status, err["code"].as_str()), (422, Some("empty_batch")));
}

#[tokio::test]
async fn bodies_over_the_size_or_item_limit_get_413() {
    let setup = Setup {
        options: HttpOptions { max_body_bytes: 100 },
        limits: IngestLimits { max_items: 2 },
        ..Setup::default()
    };
    let api = spawn_with(setup).await;
    let big = format!(r#"{{"name":"a","value":1,"agent_id":"{}"}}"#, "x".repeat(200));
    let (status, err) = json_of(api.post_json(&api.alpha, &big).await).await;
    assert_eq!((status, err["code"].as_str()), (413, Some("payload_too_large")));
    let three = r#"[{"name":"a","value":1},{"name":"a","value":2},{"name":"a","value":3}]"#;
    let (status, err) = json_of(api.post_json(&api.alpha, three).await).await;
    assert_eq!((status, err["code"].as_str()), (413, Some("too_many_items")));
}

#[tokio::test]
async fn a_body_that_is_not_json_gets_415() {
    let api = spawn_api().await;
    let resp = api
        .client
        .post("/api/v1/metrics")
        .header("Authorization", format!("Bearer {}", api.alpha))
        .content_type("text/plain")
        .body("cpu 1")
        .send()
        .await;
    let (status, err) = json_of(resp).await;
    assert_eq!((status, err["code"].as_str()), (415, Some("unsupported_media_type")));
    let resp = api.client.post("/api/v1/metrics").header("X-API-Token", &api.alpha).body("{}").send().await;
    assert_eq!(resp.0.status().as_u16(), 415, "a missing Content-Type is refused too");
}

fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).unwrap();
    encoder.finish().unwrap()
}

async fn post_encoded(
    api: &crate::helpers::TestApi,
    encoding: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let resp = api
        .client
        .post("/api/v1/metrics")
        .header("Authorization", format!("Bearer {}", api.alpha))
        .content_type("application/json")
        .header("Content-Encoding", encoding)
        .body(body)
        .send()
        .await;
    json_of(resp).await
}

#[tokio::test]
async fn a_gzip_body_is_inflated_and_stored() {
    let api = spawn_api().await;
    let body = r#"[{"name":"cpu","value":1},{"name":"cpu","value":2,"agent_id":"b"}]"#;
    let (status, reply) = post_encoded(&api, "gzip", gzip(body.as_bytes())).await;
    assert_eq!((status, reply["accepted"].as_u64()), (202, Some(2)), "{reply}");
    api.flush().await;
    let (_, q) = api.get_json(&api.alpha, "/api/v1/metrics/query?name=cpu").await;
    assert_eq!(q["series"].as_array().map(Vec::len), Some(2), "{q}");
}

#[tokio::test]
async fn a_gzip_body_that_inflates_past_the_limit_gets_413_and_broken_gzip_400() {
    let api = spawn_with(Setup { options: HttpOptions { max_body_bytes: 1_000 }, ..Setup::default() }).await;
    // Half a kilobyte of gzip inflating to half a megabyte: the limit holds after inflating.
    let bomb = gzip(&vec![b' '; 500_000]);
    assert!(bomb.len() < 1_000, "{} compressed bytes", bomb.len());
    let (status, err) = post_encoded(&api, "gzip", bomb).await;
    assert_eq!((status, err["code"].as_str()), (413, Some("payload_too_large")), "{err}");
    let (status, err) = post_encoded(&api, "gzip", b"{\"name\":\"cpu\",\"value\":1}".to_vec()).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("bad_request")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("gzip"), "{err}");
}

#[tokio::test]
async fn an_unsupported_content_encoding_gets_415_naming_it() {
    let api = spawn_api().await;
    let (status, err) = post_encoded(&api, "br", b"anything".to_vec()).await;
    assert_eq!((status, err["code"].as_str()), (415, Some("unsupported_media_type")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("'br'"), "{err}");
    let (status, _) = post_encoded(&api, "identity", br#"{"name":"cpu","value":1}"#.to_vec()).await;
    assert_eq!(status, 202, "identity is no encoding");
}

#[tokio::test]
async fn an_exhausted_quota_gets_429_with_retry_after() {
    let api = spawn_api().await;
    api.admin.set_quota("alpha", 2).await.unwrap();
    api.clock.advance(Duration::from_secs(1)); // let the auth cache see the new quota
    assert_eq!(
        api.post_json(&api.alpha, r#"[{"name":"a","value":1},{"name":"a","value":2,"ts":1}]"#)
            .await
            .0
            .status(),
        422
    );
    assert_eq!(
        api.post_json(&api.alpha, r#"[{"name":"a","value":1},{"name":"b","value":2}]"#).await.0.status(),
        202
    );
    let resp = api.post_json(&api.alpha, r#"{"name":"a","value":3}"#).await;
    assert_eq!(resp.0.status().as_u16(), 429);
    let retry: u64 = resp.0.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "one sample of a 2/min quota is back within 30 s: {retry}");
    let (_, err) = json_of(resp).await;
    assert_eq!(err["code"], "quota_exceeded");
    // Another tenant's token is not affected.
    assert_eq!(api.post_json(&api.beta, r#"{"name":"a","value":3}"#).await.0.status(), 202);
}

#[tokio::test]
async fn a_full_queue_gets_503_with_retry_after_never_202() {
    let api = spawn_with(Setup { queue_capacity: 1, ..Setup::default() }).await;
    assert_eq!(api.post_json(&api.alpha, r#"{"name":"a","value":1}"#).await.0.status(), 202);
    let resp = api.post_json(&api.alpha, r#"{"name":"a","value":2}"#).await;
    assert_eq!(resp.0.status().as_u16(), 503);
    assert!(resp.0.headers().contains_key("retry-after"));
    let (_, err) = json_of(resp).await;
    assert_eq!(err["code"], "unavailable");
}

#[tokio::test]
async fn an_unreachable_queue_gets_503_and_one_log_line_naming_the_queues_own_error() {
    // Arrange: the queue's backend refuses connections.
    let mut queue = MockIngestQueue::new();
    queue.expect_enqueue().returning(|_| {
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused by redis:6379");
        Err(QueueError::unavailable(refused))
    });
    let api = spawn_with(Setup { ingest_queue: Some(Arc::new(queue)), ..Setup::default() }).await;
    let logs = Logs::capture();

    // Act
    let resp = api.post_json(&api.alpha, r#"{"name":"a","value":1}"#).await;

    // Assert: the same answer as ever, and the cause in the log, once.
    assert_eq!(resp.0.headers()["retry-after"], "1");
    let (status, err) = json_of(resp).await;
    assert_eq!((status, err["code"].as_str()), (503, Some("unavailable")));
    assert_eq!(
        err["message"],
        "ingest is temporarily unavailable: ingest queue unavailable: connection refused by redis:6379; \
         nothing was accepted, retry later"
    );
    let logs = logs.text();
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains("connection refused by redis:6379")).collect();
    assert_eq!(lines.len(), 1, "logged once: {logs}");
    assert!(lines[0].contains("WARN") && lines[0].contains("Ingest refused with 503."), "{logs}");
    assert!(
        lines[0].contains(
            "error=ingest is temporarily unavailable: ingest queue unavailable: connection refused by redis:6379"
        ),
        "the whole chain in the error field: {logs}"
    );
}

#[tokio::test]
async fn an_unreachable_token_store_is_503_not_401() {
    let mut tokens = MockTokenRepo::new();
    tokens
        .expect_find_active_by_hash()
        .returning(|_| Err(StoreError::Unavailable { message: "disk gone".into(), source: None }));
    let api = spawn_with(Setup { tokens: Some(Arc::new(tokens)), ..Setup::default() }).await;
    let (status, err) = json_of(api.post_json(&api.alpha, r#"{"name":"a","value":1}"#).await).await;
    assert_eq!((status, err["code"].as_str()), (503, Some("unavailable")));
    assert!(err["request_id"].is_string(), "a server-side failure carries a request id");
    assert!(!err["message"].as_str().unwrap().contains("disk gone"), "internals are not leaked");
}
