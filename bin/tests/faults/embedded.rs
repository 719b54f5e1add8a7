//! The embedded default (`microdash serve` on SQLite) killed with SIGKILL under load: every
//! sample that got a 202 is stored after the restart, because the 202 waits for the journal.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::{Connection, SqliteConnection};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Samples per request, each batch its own agent and milliseconds.
const PER: usize = 1_000;

/// `microdash serve` on `data`, started once it listens; returns the process and its URL.
async fn serve(data: &Path) -> (Child, String) {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(data.with_extension("log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_microdash"))
        .args(["serve", "--http-addr", "127.0.0.1:0", "--mqtt-addr", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("MICRODASH_LOG", "info,sqlx=warn")
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("microdash listening on ") {
                return rest.split_whitespace().next().unwrap().to_string();
            }
        }
        panic!("serve ended before it listened: {}", read_log(data));
    })
    .await
    .unwrap_or_else(|_| panic!("serve did not listen in time: {}", read_log(data)));
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

fn read_log(data: &Path) -> String {
    std::fs::read_to_string(data.with_extension("log")).unwrap_or_default()
}

/// A tenant and a token for it, by the CLI on the data directory.
async fn token(data: &Path) -> String {
    let cli = |args: Vec<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_microdash"));
        command.args(args).arg("--data-dir").arg(data);
        async move {
            let out = command.output().await.unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        }
    };
    cli(vec!["tenant", "create", "acme"]).await;
    cli(vec!["tenant", "set-quota", "acme", "--samples-per-minute", "1000000000"]).await;
    let out: Value =
        serde_json::from_str(&cli(vec!["token", "create", "--tenant", "acme", "--json"]).await).unwrap();
    out["token"].as_str().unwrap().to_string()
}

/// Batch `b` without dedupe ids: agent `b<b>`, `PER` distinct milliseconds.
fn body(b: usize, base: i64) -> String {
    let items: Vec<Value> = (0..PER)
        .map(|i| json!({"metric_name": "load", "agent_id": format!("b{b}"), "value": i, "timestamp": base + i as i64}))
        .collect();
    Value::Array(items).to_string()
}

/// Posts batches from `0..` with `concurrency` requests in flight until the server stops
/// answering; returns the batches that got a 202.
async fn load_until_dead(url: String, token: String, concurrency: usize) -> BTreeSet<usize> {
    let client = reqwest::Client::new();
    let base = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let next = Arc::new(Mutex::new(0..usize::MAX));
    let accepted = Arc::new(Mutex::new(BTreeSet::new()));
    let workers = (0..concurrency).map(|_| {
        let (client, url, token, next, accepted) =
            (client.clone(), url.clone(), token.clone(), next.clone(), accepted.clone());
        tokio::spawn(async move {
            loop {
                let b = next.lock().unwrap().next().unwrap();
                let reply = client
                    .post(format!("{url}/api/v1/metrics"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body(b, base))
                    .send()
                    .await;
                match reply.map(|r| r.status().as_u16()) {
                    Ok(202) => {
                        accepted.lock().unwrap().insert(b);
                    }
                    Ok(503) => tokio::time::sleep(Duration::from_millis(50)).await,
                    Ok(other) => panic!("unexpected status {other} for batch {b}"),
                    Err(_) => return, // the server is gone
                }
            }
        })
    });
    for w in futures::future::join_all(workers).await {
        w.unwrap();
    }
    Arc::try_unwrap(accepted).unwrap().into_inner().unwrap()
}

/// Samples stored per agent.
async fn stored_per_agent(data: &Path) -> std::collections::BTreeMap<String, i64> {
    let url = format!("sqlite://{}?mode=ro", data.join("microdash.db").display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT s.agent_id, COUNT(*) FROM samples p JOIN series s ON s.id = p.series_id GROUP BY s.agent_id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_killed_mid_load_stores_every_accepted_sample_after_the_restart() {
    let _serial = super::SERIAL.lock().await;
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let token = token(&data).await;

    // Arrange: a load, and SIGKILL once some batches are queued and some stored.
    let (mut server, url) = serve(&data).await;
    let load = tokio::spawn(load_until_dead(url, token.clone(), 4));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    server.kill().await.unwrap();
    let accepted = load.await.unwrap();
    assert!(accepted.len() >= 10, "the load got going before the kill: {} batches", accepted.len());

    // Act: start again on the same data: the journal's batches are queued at start, and a
    // clean stop stores everything queued.
    let (mut server, _url) = serve(&data).await;
    let pid = server.id().unwrap();
    Command::new("kill").args(["-TERM", &pid.to_string()]).status().await.unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(120), server.wait()).await;
    assert!(matches!(stopped, Ok(Ok(s)) if s.success()), "{stopped:?}: {}", read_log(&data));

    // Assert: every accepted batch is there whole (and nothing twice: the key forbids it).
    let stored = stored_per_agent(&data).await;
    let missing: Vec<_> =
        accepted.iter().filter(|b| stored.get(&format!("b{b}")).copied() != Some(PER as i64)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} accepted batches not stored whole: {missing:?}\n{}",
        missing.len(),
        accepted.len(),
        read_log(&data)
    );
    assert!(
        read_log(&data).contains("Queued the batches the ingest journal held"),
        "the kill left batches to replay"
    );
    eprintln!("accepted {} batches before SIGKILL; all stored after the restart", accepted.len());
}
