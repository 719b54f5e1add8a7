//! Publishing and spooling against an in-process rumqttd broker on a free port.

mod support;

use std::time::Duration;

use microdash_agent::app;
use microdash_agent::spool::Spool;
use microdash_domain::wire::OutgoingSample;
use support::*;
use tokio::sync::oneshot;

fn samples(payload: &[u8]) -> Vec<OutgoingSample> {
    serde_json::from_slice(payload).expect("payload is a JSON array of samples")
}

fn spawn_agent(
    cfg: microdash_agent::config::Config,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(app::run(cfg, async move {
        let _ = stopped.await;
    }));
    (stop, handle)
}

#[tokio::test]
async fn batches_are_published_as_one_json_array_to_the_agents_topic_with_dedupe_ids() {
    let port = free_port();
    start_broker(port);
    let mut rx = subscribe(port).await;
    let dir = tempfile::tempdir().unwrap();
    let (stop, agent) = spawn_agent(agent_config(port, dir.path(), &[]));

    let (topic, payload) = next_payload(&mut rx, Duration::from_secs(15)).await;

    assert_eq!(topic, "metrics/acme/edge-1");
    let batch = samples(&payload);
    let ts = batch[0].timestamp.unwrap();
    for (i, s) in batch.iter().enumerate() {
        assert_eq!(s.dedupe_id.as_deref(), Some(format!("edge-1-{ts}-{i}").as_str()));
        assert_eq!(s.agent_id.as_deref(), Some("edge-1"));
    }
    assert!(batch.iter().any(|s| s.metric_name == "system.mem.used_pct"));
    assert!(batch.iter().any(|s| s.metric_name == "agent.spool.depth"));
    stop.send(()).unwrap();
    agent.await.unwrap().unwrap();
    assert!(spooled_files(dir.path()).is_empty(), "acknowledged batches must not stay spooled");
}

#[tokio::test]
async fn batches_spooled_while_the_broker_is_down_are_all_replayed_in_order_once_it_is_up() {
    // Arrange: the agent starts with no broker listening.
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let (stop, agent) = spawn_agent(agent_config(port, dir.path(), &[]));
    eventually(Duration::from_secs(15), "three batches spooled", || spooled_files(dir.path()).len() >= 3)
        .await;
    let spooled: Vec<Vec<u8>> =
        spooled_files(dir.path()).iter().filter_map(|p| std::fs::read(p).ok()).collect();

    // Act: the broker comes up (the subscriber is in place before the agent can reach it).
    let broker_port = free_port();
    start_broker(broker_port);
    let mut rx = subscribe(broker_port).await;
    open_path(port, broker_port).await;

    // Assert: every spooled batch arrives byte-identical (same dedupe ids), oldest first,
    // and the spool empties.
    let mut received = Vec::new();
    while received.len() < spooled.len() + 1 {
        received.push(next_payload(&mut rx, Duration::from_secs(30)).await.1);
    }
    let first_spooled =
        received.iter().position(|p| *p == spooled[0]).expect("oldest spooled batch replayed");
    assert_eq!(&received[first_spooled..first_spooled + spooled.len()], &spooled[..]);
    let times: Vec<i64> = received.iter().map(|p| samples(p)[0].timestamp.unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "batches out of order: {times:?}");
    let depth = samples(received.last().unwrap())
        .iter()
        .find(|s| s.metric_name == "agent.spool.depth")
        .map(|s| s.value);
    assert!(depth.is_some());
    eventually(Duration::from_secs(10), "spool drained", || spooled_files(dir.path()).is_empty()).await;
    stop.send(()).unwrap();
    agent.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_spool_left_by_a_previous_run_is_replayed_oldest_first_after_restart() {
    // Arrange: a previous run left three batches behind.
    let port = free_port();
    start_broker(port);
    let mut rx = subscribe(port).await;
    let dir = tempfile::tempdir().unwrap();
    let old: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            format!(
                r#"[{{"metric_name":"old","value":{i},"timestamp":{},"dedupe_id":"edge-1-{}-0"}}]"#,
                1000 + i,
                1000 + i
            )
            .into_bytes()
        })
        .collect();
    {
        let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
        for (i, p) in old.iter().enumerate() {
            spool.push(1000 + i as i64, p).unwrap();
        }
    }

    // Act
    let (stop, agent) = spawn_agent(agent_config(port, dir.path(), &[]));

    // Assert: the old batches arrive in order, unchanged.
    let mut got_old = Vec::new();
    while got_old.len() < old.len() {
        let (_, p) = next_payload(&mut rx, Duration::from_secs(20)).await;
        if samples(&p)[0].metric_name == "old" {
            got_old.push(p);
        }
    }
    assert_eq!(got_old, old);
    eventually(Duration::from_secs(10), "spool drained", || spooled_files(dir.path()).is_empty()).await;
    stop.send(()).unwrap();
    agent.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_full_spool_drops_the_oldest_batches_and_reports_the_drops() {
    // Arrange: room for about two batches, broker down.
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let (stop, agent) = spawn_agent(agent_config(port, dir.path(), &["--spool-max-bytes", "2500"]));
    eventually(Duration::from_secs(20), "a batch reporting drops", || {
        spooled_files(dir.path()).iter().filter_map(|p| std::fs::read(p).ok()).any(|p| {
            samples(&p).iter().any(|s| s.metric_name == "agent.spool.dropped_total" && s.value >= 1.0)
        })
    })
    .await;

    // Assert: the spool stays within its bound.
    let total: u64 =
        spooled_files(dir.path()).iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    assert!(total <= 2500, "spool holds {total} bytes");
    stop.send(()).unwrap();
    agent.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_while_the_broker_is_down_keeps_the_batches_and_returns_ok() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let (stop, agent) = spawn_agent(agent_config(port, dir.path(), &[]));
    eventually(Duration::from_secs(10), "a batch spooled", || !spooled_files(dir.path()).is_empty()).await;

    stop.send(()).unwrap();

    tokio::time::timeout(Duration::from_secs(10), agent).await.expect("agent stops").unwrap().unwrap();
    assert!(!spooled_files(dir.path()).is_empty());
}
