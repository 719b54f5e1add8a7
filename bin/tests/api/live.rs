//! Live streams through the real composition root: the stream gets what the worker stores,
//! and a graceful shutdown ends open streams at once instead of waiting out the grace period.

use std::time::Duration;

use serde_json::Value;

use microdash::testing::spawn_app_with;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_browser_stream_gets_stored_samples_and_ends_cleanly_when_the_server_stops() {
    // Arrange: a ticket, the way a page opens its stream.
    // A grace period far longer than the test may take: only streams that end at once let
    // the server stop in time.
    let app = spawn_app_with(&["--shutdown-grace", "3600"]).await;
    let ticket: Value = app
        .client
        .post(format!("{}/api/v1/stream/tickets", app.url))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!(
        "{}{}?ticket={}",
        app.url,
        ticket["stream_path"].as_str().unwrap(),
        ticket["ticket"].as_str().unwrap()
    );
    let mut stream = app.client.get(url).send().await.unwrap();
    assert_eq!(stream.status(), 200);

    // Act
    let (status, body) =
        app.post_metrics(&app.token, r#"{"metric_name":"cpu","value":42.5,"agent_id":"h1"}"#).await;
    assert_eq!(status, 202, "{body}");

    // Assert: the sample arrives as a `samples` event with an id.
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk =
            tokio::time::timeout(WAIT, stream.chunk()).await.expect("in time").unwrap().expect("open");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(text.starts_with("id: ") && text.contains("event: samples") && text.contains("42.5"), "{text}");

    let stopped = tokio::time::timeout(Duration::from_secs(60), app.stop()).await;
    assert!(stopped.is_ok(), "open streams held the shutdown open for the grace period");
    let rest = tokio::time::timeout(WAIT, stream.chunk()).await.expect("the stream ended");
    assert!(matches!(rest, Ok(None)), "a clean end of the response: {rest:?}");
}
