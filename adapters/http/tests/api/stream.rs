use std::time::Duration;

use futures::{Stream, StreamExt};
use microdash_usecases::LiveOptions;
use poem::web::sse::Event;
use serde_json::Value;

use crate::helpers::{NOW, Setup, TestApi, json_of, spawn_api, spawn_with};

const WAIT: Duration = Duration::from_secs(5);

impl TestApi {
    /// `POST /api/v1/stream/tickets` with a token; the ticket.
    async fn ticket(&self, token: &str) -> String {
        let resp = self.client.post("/api/v1/stream/tickets").header("X-API-Token", token).send().await;
        let (status, body) = json_of(resp).await;
        assert_eq!(status, 201, "{body}");
        body["ticket"].as_str().expect("a ticket").to_string()
    }

    /// Posts one sample of alpha's and runs the worker, so that it is stored and published.
    async fn store(&self, metric: &str, value: f64) {
        self.store_as(&self.alpha, metric, value).await;
    }

    /// Posts one sample with `token` and runs the worker.
    async fn store_as(&self, token: &str, metric: &str, value: f64) {
        let body =
            format!(r#"{{"metric_name":"{metric}","value":{value},"agent_id":"h1","timestamp":{NOW}}}"#);
        assert_eq!(self.post_json(token, &body).await.0.status(), 202);
        self.flush().await;
    }
}

/// A `samples` or `reset` event: (SSE event name, SSE id, data as JSON).
async fn next_event(events: &mut (impl Stream<Item = Event> + Unpin)) -> (String, String, Value) {
    match tokio::time::timeout(WAIT, events.next()).await.expect("an event in time").expect("stream open") {
        Event::Message { id, event, data } => (event, id, serde_json::from_str(&data).expect("JSON data")),
        other => panic!("unexpected {other:?}"),
    }
}

fn values(data: &Value) -> Vec<f64> {
    data["samples"].as_array().unwrap().iter().map(|s| s["value"].as_f64().unwrap()).collect()
}

#[tokio::test]
async fn a_ticket_opens_its_tenants_stream_where_stored_samples_arrive_with_ids() {
    // Arrange
    let api = spawn_api().await;
    let ticket = api.ticket(&api.alpha).await;

    // Act
    let resp =
        api.client.get("/api/v1/stream/alpha").query("ticket", &ticket).query("metrics", &"cpu").send().await;
    resp.assert_status_is_ok();
    resp.assert_header("X-Accel-Buffering", "no");
    resp.assert_header("Cache-Control", "no-cache");
    let mut events = resp.sse_stream();
    api.store("cpu", 2.0).await;
    api.store("mem", 1.0).await;
    api.store("cpu", 3.0).await;

    // Assert
    let (kind, id, data) = next_event(&mut events).await;
    assert_eq!(kind, "samples");
    assert_eq!(data["id"], id.as_str());
    assert_eq!(data["type"], "samples");
    assert_eq!(
        data["samples"][0],
        serde_json::json!({"metric_name": "cpu", "agent_id": "h1", "tags": {}, "value": 2.0, "timestamp": NOW})
    );
    let (_, next_id, data) = next_event(&mut events).await;
    assert_eq!(values(&data), [3.0], "mem was filtered out");
    let (first, second): (u64, u64) = (id.parse().unwrap(), next_id.parse().unwrap());
    assert_eq!(second, first + 2, "ids count bus messages: the filtered `mem` took the one between");
}

#[tokio::test]
async fn a_ticket_or_token_of_one_tenant_cannot_open_another_tenants_stream() {
    let api = spawn_api().await;
    let beta_ticket = api.ticket(&api.beta).await;

    let by_ticket = api.client.get("/api/v1/stream/alpha").query("ticket", &beta_ticket).send().await;
    let (status, err) = json_of(by_ticket).await;
    assert_eq!((status, err["code"].as_str()), (403, Some("forbidden")), "{err}");
    let by_token = api.client.get("/api/v1/stream/alpha").header("X-API-Token", &api.beta).send().await;
    assert_eq!(json_of(by_token).await.0, 403);

    // Beta's own stream and long-poll see beta's sample, and not alpha's stored before it.
    let beta_ticket = api.ticket(&api.beta).await;
    let resp = api.client.get("/api/v1/stream/beta").query("ticket", &beta_ticket).send().await;
    resp.assert_status_is_ok();
    let mut beta_events = resp.sse_stream();
    let (_, start) = api.get_json(&api.beta, "/api/v1/metrics/live?wait=0s").await;
    api.store("cpu", 1.0).await;
    api.store_as(&api.beta, "cpu", 5.0).await;
    let (_, _, data) = next_event(&mut beta_events).await;
    assert_eq!(values(&data), [5.0], "beta's stream carries only beta's samples");
    let since = start["last_event_id"].as_str().unwrap();
    let (status, polled) =
        api.get_json(&api.beta, &format!("/api/v1/metrics/live?since={since}&wait=25s")).await;
    assert_eq!(status, 200, "{polled}");
    let polled: Vec<f64> = polled["events"].as_array().unwrap().iter().flat_map(values).collect();
    assert_eq!(polled, [5.0], "the long-poll has no tenant in its URL: a beta credential sees only beta");
}

#[tokio::test]
async fn expired_altered_or_missing_credentials_get_401_with_a_code() {
    let api = spawn_api().await;
    let ticket = api.ticket(&api.alpha).await;
    let open = |ticket: String| {
        let client = &api.client;
        async move { json_of(client.get("/api/v1/stream/alpha").query("ticket", &ticket).send().await).await }
    };

    let (status, err) = open(ticket.replacen("alpha", "beta", 1)).await;
    assert_eq!((status, err["code"].as_str()), (401, Some("invalid_ticket")), "{err}");
    api.clock.advance(Duration::from_secs(60));
    let (status, err) = open(ticket).await;
    assert_eq!((status, err["code"].as_str()), (401, Some("ticket_expired")), "{err}");
    let (status, err) = json_of(api.client.get("/api/v1/stream/alpha").send().await).await;
    assert_eq!((status, err["code"].as_str()), (401, Some("unauthorized")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("?ticket="), "{err}");
    let anonymous = api.client.post("/api/v1/stream/tickets").send().await;
    assert_eq!(json_of(anonymous).await.0, 401, "tickets need a token");
}

#[tokio::test]
async fn last_event_id_resumes_where_the_client_left_and_a_lost_point_gets_a_reset() {
    let api = spawn_with(Setup {
        live: LiveOptions { replay_events: 3, ..LiveOptions::default() },
        ..Setup::default()
    })
    .await;
    let resp = api.client.get("/api/v1/stream/alpha").header("X-API-Token", &api.alpha).send().await;
    let mut events = resp.sse_stream();
    api.store("cpu", 1.0).await;
    let (_, seen, _) = next_event(&mut events).await;
    drop(events);

    api.store("cpu", 2.0).await;
    api.store("cpu", 3.0).await;
    let resp = api
        .client
        .get("/api/v1/stream/alpha")
        .header("X-API-Token", &api.alpha)
        .header("Last-Event-ID", &seen)
        .send()
        .await;
    let mut resumed = resp.sse_stream();
    assert_eq!(values(&next_event(&mut resumed).await.2), [2.0]);
    let (_, newest, data) = next_event(&mut resumed).await;
    assert_eq!(values(&data), [3.0], "exactly the two missed, in order");

    api.store("cpu", 4.0).await;
    api.store("cpu", 5.0).await;
    // Read, so this node surely holds them: the ring of 3 no longer reaches back to `seen`.
    assert_eq!(values(&next_event(&mut resumed).await.2), [4.0]);
    assert_eq!(values(&next_event(&mut resumed).await.2), [5.0]);
    let resp = api
        .client
        .get("/api/v1/stream/alpha")
        .header("X-API-Token", &api.alpha)
        .query("last_event_id", &seen)
        .send()
        .await;
    let (kind, id, data) = next_event(&mut resp.sse_stream()).await;
    assert_eq!((kind.as_str(), data["reason"].as_str()), ("reset", Some("resume_point_too_old")), "{data}");
    assert_eq!(id.parse::<u64>().unwrap(), newest.parse::<u64>().unwrap() + 2, "continue after the newest");
}

#[tokio::test]
async fn the_long_poll_gives_the_same_events_and_ids_as_the_stream() {
    let api = spawn_api().await;
    let ticket = api.ticket(&api.alpha).await;
    let resp =
        api.client.get("/api/v1/stream/alpha").query("ticket", &ticket).query("metrics", &"cpu").send().await;
    let mut events = resp.sse_stream();
    let (status, start) = api.get_json(&api.alpha, "/api/v1/metrics/live?metrics=cpu&wait=0s").await;
    assert_eq!(status, 200, "{start}");

    api.store("cpu", 1.0).await;
    api.store("mem", 2.0).await;
    api.store("cpu", 3.0).await;
    let mut streamed = Vec::new();
    for _ in 0..2 {
        let (_, _, mut data) = next_event(&mut events).await;
        data.as_object_mut().unwrap().remove("type");
        streamed.push(data);
    }
    let since = start["last_event_id"].as_str().unwrap();
    let path = format!("/api/v1/metrics/live?metrics=cpu&since={since}&wait=25s&ticket={ticket}");
    let resp = api.client.get(&path).send().await;
    let (status, polled) = json_of(resp).await;

    assert_eq!(status, 200, "{polled}");
    assert_eq!(polled["events"], Value::Array(streamed.clone()), "same events, same ids");
    assert_eq!(polled["last_event_id"], streamed[1]["id"]);
    assert!(polled.get("reset").is_none());
}

#[tokio::test]
async fn stream_limits_answer_429_with_retry_after() {
    let live = LiveOptions { max_streams_per_tenant: 1, ..LiveOptions::default() };
    let api = spawn_with(Setup { live, ..Setup::default() }).await;
    let first = api.client.get("/api/v1/stream/alpha").header("X-API-Token", &api.alpha).send().await;
    first.assert_status_is_ok();

    let second = api.client.get("/api/v1/stream/alpha").header("X-API-Token", &api.alpha).send().await;
    second.assert_header("Retry-After", "5");
    let (status, err) = json_of(second).await;
    assert_eq!((status, err["code"].as_str()), (429, Some("too_many_streams")), "{err}");
    let other_tenant = api.client.get("/api/v1/stream/beta").header("X-API-Token", &api.beta).send().await;
    other_tenant.assert_status_is_ok();

    drop(first);
    let again = api.client.get("/api/v1/stream/alpha").header("X-API-Token", &api.alpha).send().await;
    again.assert_status_is_ok();
}

#[tokio::test]
async fn a_client_that_falls_behind_gets_a_reset_and_is_disconnected() {
    let live = LiveOptions { viewer_buffer: 2, ..LiveOptions::default() };
    let api = spawn_with(Setup { live, ..Setup::default() }).await;
    let resp = api.client.get("/api/v1/stream/alpha").header("X-API-Token", &api.alpha).send().await;
    let mut slow = resp.sse_stream();
    let resp = api.client.get("/api/v1/stream/alpha").header("X-API-Token", &api.alpha).send().await;
    let mut keeping_up = resp.sse_stream();

    for v in 0..6 {
        api.store("cpu", f64::from(v)).await;
        assert_eq!(values(&next_event(&mut keeping_up).await.2), [f64::from(v)], "others are not slowed");
    }

    let (kind, _, data) = next_event(&mut slow).await;
    assert_eq!((kind.as_str(), data["reason"].as_str()), ("reset", Some("too_slow")), "{data}");
    assert!(tokio::time::timeout(WAIT, slow.next()).await.unwrap().is_none(), "then the server closes");
}

#[tokio::test]
async fn shutdown_ends_open_streams_and_refuses_new_ones_with_503() {
    let api = spawn_api().await;
    let resp = api.client.get("/api/v1/stream/alpha").header("X-API-Token", &api.alpha).send().await;
    let mut events = resp.sse_stream();

    api.live.shutdown();

    assert!(tokio::time::timeout(WAIT, events.next()).await.expect("ends at once").is_none());
    let refused = api.client.get("/api/v1/stream/alpha").header("X-API-Token", &api.alpha).send().await;
    assert_eq!(json_of(refused).await.0, 503);
}

#[tokio::test(start_paused = true)]
async fn an_idle_stream_sends_a_heartbeat_comment_every_15_seconds() {
    let api = spawn_api().await;
    let resp = api.client.get("/api/v1/stream/alpha").header("X-API-Token", &api.alpha).send().await;
    let mut body = resp.0.into_body().into_bytes_stream();
    let started = tokio::time::Instant::now();

    let chunk = body.next().await.expect("a chunk").expect("readable");

    assert_eq!(&chunk[..], b":\n\n");
    assert_eq!(started.elapsed(), Duration::from_secs(15));
}

#[tokio::test]
async fn bad_live_parameters_get_400_naming_the_parameter() {
    let api = spawn_api().await;
    for (path, field) in [
        ("/api/v1/stream/alpha?metrics=cpu,9bad", "metrics"),
        ("/api/v1/stream/alpha?agent_id=a/b", "agent_id"),
        ("/api/v1/metrics/live?since=yesterday", "since"),
        ("/api/v1/metrics/live?wait=99s", "wait"),
        ("/api/v1/metrics/live?wait=soon", "wait"),
    ] {
        let (status, err) = api.get_json(&api.alpha, path).await;
        assert_eq!((status, err["errors"][0]["field"].as_str()), (400, Some(field)), "{path}: {err}");
    }
}

#[tokio::test]
async fn the_live_endpoints_are_documented() {
    let api = spawn_api().await;
    let (_, spec) = json_of(api.client.get("/openapi.json").send().await).await;
    let stream = &spec["paths"]["/api/v1/stream/{tenant}"]["get"];
    for status in ["200", "401", "403", "429"] {
        assert!(stream["responses"][status].is_object(), "stream documents {status}");
    }
    assert!(stream["responses"]["200"]["content"]["text/event-stream"].is_object());
    assert!(spec["paths"]["/api/v1/stream/tickets"]["post"]["responses"]["201"].is_object());
    assert!(spec["paths"]["/api/v1/metrics/live"]["get"]["responses"]["200"].is_object());
    assert_eq!(spec["components"]["securitySchemes"]["StreamTicket"]["in"], "query");
}
