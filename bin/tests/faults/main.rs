//! Fault tests of the production deployment (and, in `embedded`, of `serve`): real `microdash` processes (api, worker) on the
//! real MariaDB and Redis, killed, cut off and restarted while they work. What they prove is
//! the promise of the queue: every sample that got a 202 is stored, exactly once.

mod embedded;
mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use support::{OwnRedis, Proxy, Sent, Stack, send};

const PER: usize = 1_000;

/// One at a time: each test runs a real stack under load, and timing them side by side on a
/// two-core machine would measure the machine, not the stack.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_load_loses_nothing_and_a_new_one_stores_each_sample_once() {
    let _serial = SERIAL.lock().await;
    let mut stack = Stack::new(None).await;
    let token = stack.token().await;
    let db = stack.db_url();
    let api = stack.start("api", &db).await;
    let worker = stack.start("worker", &db).await;
    let sent = Arc::new(Sent::default());
    let load = tokio::spawn(send(vec![stack.url(api)], token, 0..200, PER, 4, true, sent.clone()));

    // Kill it while batches are queued and some are surely in its hands.
    while stack.count("samples").await < 20_000 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stack.kill9(worker).await;
    load.await.unwrap();
    assert_eq!(sent.accepted.load(std::sync::atomic::Ordering::SeqCst), 200_000);
    assert!(stack.count("samples").await < 200_000, "the load outlived the dead worker");

    stack.start("worker", &db).await;
    stack.wait_for_samples(200_000, Duration::from_secs(120)).await;
    assert_eq!(stack.count("dedupe").await, 200_000, "each dedupe id once");
    let stats: Value = serde_json::from_str(
        &stack
            .cli(&["queue", "stats", "--json", "--redis-url", &stack.redis, "--redis-prefix", &stack.prefix])
            .await,
    )
    .unwrap();
    assert_eq!(stats["pending"], 0, "{stats}");
    assert_eq!(stats["dead_letters"], 0, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_nodes_and_two_workers_share_the_load_without_loss_or_duplicates() {
    let _serial = SERIAL.lock().await;
    let mut stack = Stack::new(None).await;
    let token = stack.token().await;
    let db = stack.db_url();
    let (a, b) = (stack.start("api", &db).await, stack.start("api", &db).await);
    let (w1, w2) = (stack.start("worker", &db).await, stack.start("worker", &db).await);
    let sent = Arc::new(Sent::default());
    send(vec![stack.url(a), stack.url(b)], token, 0..100, PER, 4, true, sent.clone()).await;

    stack.wait_for_samples(100_000, Duration::from_secs(120)).await;
    assert_eq!(stack.count("dedupe").await, 100_000);
    for w in [w1, w2] {
        stack.stop(w).await;
        let log = stack.log(w);
        let stored = log
            .lines()
            .find(|l| l.contains("Worker stopped"))
            .and_then(|l| l.split("samples=").nth(1))
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<u64>().ok());
        assert!(stored.is_some_and(|n| n > 0), "both workers stored a share; worker {w} log:\n{log}");
    }
    // Sightings are written once a second and on a clean stop.
    assert_eq!(stack.count("agents").await, 100, "one agent per batch, each registered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_down_ingest_answers_503_and_every_accepted_sample_is_stored_after() {
    let _serial = SERIAL.lock().await;
    let mut redis = OwnRedis::start().await;
    let mut stack = Stack::new(Some(redis.url())).await;
    let token = stack.token().await;
    let db = stack.db_url();
    let api = stack.start("api", &db).await;
    stack.start("worker", &db).await;
    let url = stack.url(api);

    let before = Arc::new(Sent::default());
    send(vec![url.clone()], token.clone(), 0..20, PER, 2, false, before.clone()).await;
    redis.down();
    let during = Arc::new(Sent::default());
    send(vec![url.clone()], token.clone(), 20..40, PER, 2, false, during.clone()).await;
    let probe = reqwest::get(format!("{url}/readyz")).await.unwrap();
    assert_eq!(probe.status(), 503, "not ready without Redis");
    let body: Value = probe.json().await.unwrap();
    assert!(body.to_string().contains("redis"), "names Redis: {body}");
    redis.up().await;
    let after = Arc::new(Sent::default());
    send(vec![url.clone()], token, 40..60, PER, 2, true, after.clone()).await;

    let ordering = std::sync::atomic::Ordering::SeqCst;
    assert_eq!(before.accepted.load(ordering), 20_000, "all accepted while Redis was up");
    assert_eq!(during.accepted.load(ordering), 0, "no 202 while Redis was down");
    assert_eq!(during.unavailable.load(ordering), 20, "each request told 503");
    stack.wait_for_samples(40_000, Duration::from_secs(60)).await;
    assert_eq!(reqwest::get(format!("{url}/readyz")).await.unwrap().status(), 200, "ready again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_buffered_by_the_queue_and_drained_after_it() {
    let _serial = SERIAL.lock().await;
    let mut stack = Stack::new(None).await;
    let token = stack.token().await;
    let db = stack.db_url();
    let server = support::mysql_url().trim_start_matches("mysql://").rsplit('@').next().unwrap().to_string();
    let proxy = Proxy::start(server).await;
    let through_proxy = db.replace(
        &format!("@{}", db.split('@').nth(1).unwrap().split('/').next().unwrap()),
        &format!("@{}", proxy.addr),
    );
    let api = stack.start("api", &db).await;
    let worker = stack.start("worker", &through_proxy).await;
    let url = stack.url(api);

    send(vec![url.clone()], token.clone(), 0..10, PER, 2, false, Arc::default()).await;
    stack.wait_for_samples(10_000, Duration::from_secs(30)).await;
    proxy.cut();
    let during = Arc::new(Sent::default());
    send(vec![url.clone()], token, 10..60, PER, 2, false, during.clone()).await;
    assert_eq!(during.accepted.load(std::sync::atomic::Ordering::SeqCst), 50_000, "the api keeps accepting");
    // The worker tries, fails and says it retries; only then is the database given back.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !stack.log(worker).contains("retrying, nothing is dropped") {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never said it retries:\n{}",
            stack.log(worker)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stack.count("samples").await, 10_000, "nothing stored while the worker is cut off");
    proxy.restore();
    stack.wait_for_samples(60_000, Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_database_refuses_goes_to_the_dead_letters_without_stopping_the_others() {
    let _serial = SERIAL.lock().await;
    let mut stack = Stack::new(None).await;
    let token = stack.token().await;
    let db = stack.db_url();
    // The operator's trigger refuses one value (the load sends whole numbers only): a poison
    // batch no retry can store.
    stack
        .sql(
            "CREATE TRIGGER no_666 BEFORE INSERT ON samples FOR EACH ROW \
             IF NEW.value = 666.5 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'value 666.5 refused'; END IF",
        )
        .await;
    let api = stack.start("api", &db).await;
    stack.start("worker", &db).await;
    let url = stack.url(api);
    let client = reqwest::Client::new();
    let post = |body: String| {
        client
            .post(format!("{url}/api/v1/metrics"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    send(vec![url.clone()], token.clone(), 0..5, PER, 1, false, Arc::default()).await;
    let poison = r#"[{"metric_name":"load","agent_id":"poison","value":666.5},{"metric_name":"load","agent_id":"other","value":1}]"#;
    assert_eq!(post(poison.to_string()).await.unwrap().status(), 202);
    send(vec![url.clone()], token.clone(), 5..10, PER, 1, false, Arc::default()).await;

    stack.wait_for_samples(10_000, Duration::from_secs(60)).await;
    let redis = ["--redis-url", &stack.redis, "--redis-prefix", &stack.prefix];
    let list = |extra: &[&str]| {
        let mut args = vec!["queue", "dead-letters"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&redis);
        args.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let mut letters = Value::Null;
    for _ in 0..50 {
        let out = stack.cli(&list(&["list", "--json"]).iter().map(String::as_str).collect::<Vec<_>>()).await;
        letters = serde_json::from_str(&out).unwrap();
        if letters.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let letters = letters.as_array().unwrap().clone();
    assert_eq!(letters.len(), 1, "exactly the poison batch: {letters:?}");
    assert_eq!(letters[0]["samples"], 2);
    assert!(letters[0]["reason"].as_str().unwrap().contains("value 666.5 refused"), "{}", letters[0]);

    // Once the operator fixes the cause, a replay stores it.
    stack.sql("DROP TRIGGER no_666").await;
    let id = letters[0]["id"].as_str().unwrap().to_string();
    let out = stack.cli(&list(&["replay", &id]).iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(out.contains("Put 1 dead letter"), "{out}");
    stack.wait_for_samples(10_002, Duration::from_secs(30)).await;
    let out = stack.cli(&list(&["list", "--json"]).iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(out.trim(), "[]");
}
