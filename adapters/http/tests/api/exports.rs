use std::time::Duration;

use crate::helpers::{NOW, TestApi, json_of, spawn_api};

async fn create(api: &TestApi, token: &str, body: &str) -> (u16, serde_json::Value) {
    let resp = api
        .client
        .post("/api/v1/exports")
        .header("X-API-Token", token)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await;
    json_of(resp).await
}

async fn download(api: &TestApi, url: &str) -> (u16, String, String) {
    let resp = api.client.get(url).send().await;
    let status = resp.0.status().as_u16();
    let content_type =
        resp.0.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, content_type, resp.0.into_body().into_string().await.unwrap())
}

async fn seed(api: &TestApi) {
    let items: Vec<String> = (0..3)
        .map(|i| {
            format!(
                r#"{{"name":"cpu","value":{i}.5,"ts":{},"agent_id":"h1","tags":{{"note":"a,\"b\""}}}}"#,
                NOW - 3000 + i * 1000
            )
        })
        .collect();
    assert_eq!(api.post_json(&api.alpha, &format!("[{}]", items.join(","))).await.0.status(), 202);
    api.flush().await;
}

#[tokio::test]
async fn an_export_link_streams_csv_without_a_token() {
    // Arrange
    let api = spawn_api().await;
    seed(&api).await;

    // Act
    let (status, link) = create(&api, &api.alpha, r#"{"name":"cpu"}"#).await;
    let url = link["url"].as_str().unwrap();
    let (status_csv, content_type, body) = download(&api, url).await;

    // Assert
    assert_eq!(status, 201, "{link}");
    assert_eq!(
        (link["resolution"].as_str(), link["expires_at"].as_i64()),
        (Some("raw"), Some(NOW + 3_600_000))
    );
    assert_eq!(status_csv, 200);
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    assert_eq!(
        body,
        "metric,agent_id,tags,time,value\r\n\
         cpu,h1,\"{\"\"note\"\":\"\"a,\\\"\"b\\\"\"\"\"}\",2026-11-22T09:59:57.000Z,0.5\r\n\
         cpu,h1,\"{\"\"note\"\":\"\"a,\\\"\"b\\\"\"\"\"}\",2026-11-22T09:59:58.000Z,1.5\r\n\
         cpu,h1,\"{\"\"note\"\":\"\"a,\\\"\"b\\\"\"\"\"}\",2026-11-22T09:59:59.000Z,2.5\r\n"
    );
}

#[tokio::test]
async fn a_tampered_or_expired_link_gets_403() {
    let api = spawn_api().await;
    seed(&api).await;
    let (_, link) = create(&api, &api.alpha, r#"{"name":"cpu"}"#).await;
    let url = link["url"].as_str().unwrap().to_owned();
    let (path, sig) = url.split_once("?sig=").unwrap();

    // The id with one character changed (a different query), or another signature.
    let mut tampered_id = path.to_owned();
    let last = tampered_id.pop().unwrap();
    tampered_id.push(if last == '0' { '1' } else { '0' });
    let forged_sig = sig.chars().rev().collect::<String>();
    for bad in [format!("{tampered_id}?sig={sig}"), format!("{path}?sig={forged_sig}")] {
        let (status, err) = json_of(api.client.get(&bad).send().await).await;
        assert_eq!((status, err["code"].as_str()), (403, Some("invalid_link")), "{bad}");
    }
    let (status, err) = json_of(api.client.get(path).send().await).await;
    assert_eq!((status, err["errors"][0]["field"].as_str()), (400, Some("sig")), "no signature: {err}");

    api.clock.advance(Duration::from_secs(3_600) + Duration::from_millis(1));
    let (status, err) = json_of(api.client.get(&url).send().await).await;
    assert_eq!((status, err["code"].as_str()), (403, Some("link_expired")));
}

#[tokio::test]
async fn an_export_holds_only_the_tenant_that_made_it() {
    let api = spawn_api().await;
    seed(&api).await;

    let (status, link) =
        create(&api, &api.beta, r#"{"name":"cpu","start":0,"end":"2026-11-22T10:00:00Z"}"#).await;
    assert_eq!(status, 400, "over the maximum range: {link}");
    let (_, link) = create(&api, &api.beta, r#"{"name":"cpu"}"#).await;
    let (status, _, body) = download(&api, link["url"].as_str().unwrap()).await;

    assert_eq!(status, 200);
    assert_eq!(body, "metric,agent_id,tags,time,value\r\n", "beta has no cpu samples of its own");
    let unauthenticated = api
        .client
        .post("/api/v1/exports")
        .header("Content-Type", "application/json")
        .body(r#"{"name":"cpu"}"#)
        .send()
        .await;
    assert_eq!(unauthenticated.0.status().as_u16(), 401);
    let (status, err) = create(&api, &api.alpha, r#"{"name":"cpu","resolution":"1s"}"#).await;
    assert_eq!((status, err["errors"][0]["field"].as_str()), (400, Some("resolution")));
}
