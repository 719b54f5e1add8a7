//! Test harness: an in-process rumqttd broker on a free port, a subscriber that records every
//! publish, and polling with a deadline (never a sleep to wait for a result).

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use rumqttd::{Broker, Config as BrokerConfig, ConnectionSettings, RouterConfig, ServerSettings};
use tokio::sync::mpsc;

/// A port nothing listens on right now: bind port 0, read it, let it go.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts a rumqttd broker on 127.0.0.1:`port` in its own thread and waits until it accepts.
/// rumqttd has no stop; the thread ends with the test process.
pub fn start_broker(port: u16) {
    let conn = ConnectionSettings {
        connection_timeout_ms: 5_000,
        max_payload_size: 1024 * 1024,
        max_inflight_count: 500,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let listen: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = ServerSettings {
        name: "v4".into(),
        listen,
        tls: None,
        next_connection_delay_ms: 0,
        connections: conn,
    };
    let cfg = BrokerConfig {
        id: 0,
        router: RouterConfig {
            max_connections: 100,
            max_outgoing_packet_count: 200,
            max_segment_size: 100 << 20,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some(HashMap::from([("1".to_owned(), server)])),
        ..Default::default()
    };
    std::thread::spawn(move || Broker::new(cfg).start().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(listen).is_err() {
        assert!(Instant::now() < deadline, "broker did not start listening on {listen}");
        std::thread::yield_now();
    }
}

/// Subscribes to `metrics/#` and returns every received payload, after the SubAck.
pub async fn subscribe(port: u16) -> mpsc::UnboundedReceiver<(String, Vec<u8>)> {
    let mut o = MqttOptions::new(format!("test-sub-{port}"), "127.0.0.1", port);
    o.set_max_packet_size(1024 * 1024, 1024 * 1024);
    let (client, mut eventloop) = AsyncClient::new(o, 100);
    client.subscribe("metrics/#", QoS::AtLeastOnce).await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let (subacked_tx, subacked) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _keep = client;
        let mut subacked_tx = Some(subacked_tx);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(t) = subacked_tx.take() {
                        let _ = t.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send((p.topic.clone(), p.payload.to_vec()));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), subacked).await.expect("no SubAck").unwrap();
    rx
}

/// "Brings the broker up" at `port`: forwards 127.0.0.1:`port` to the broker on `broker_port`,
/// so a test can subscribe before the agent can reach the broker.
pub async fn open_path(port: u16, broker_port: u16) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", broker_port)).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut upstream).await;
                }
            });
        }
    });
}

/// Polls `check` until it is true or `within` has passed.
pub async fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Receives the next payload within `within`.
pub async fn next_payload(
    rx: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    within: Duration,
) -> (String, Vec<u8>) {
    tokio::time::timeout(within, rx.recv()).await.expect("no publish in time").expect("subscriber gone")
}

/// Batch files in a spool directory, oldest first.
pub fn spooled_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "batch"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// An agent configuration publishing to the broker at `port` every second (`extra` may give
/// its own `--broker` instead).
pub fn agent_config(port: u16, spool: &Path, extra: &[&str]) -> microdash_agent::config::Config {
    let broker = if extra.contains(&"--broker") {
        vec![]
    } else {
        vec!["--broker".to_owned(), format!("mqtt://127.0.0.1:{port}")]
    };
    let mut args: Vec<String> = [
        "microdash-agent",
        "--tenant",
        "acme",
        "--token",
        "t0ken",
        "--agent-id",
        "edge-1",
        "--interval",
        "1s",
        "--collectors",
        "load,memory,uptime",
        "--spool-dir",
        spool.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(broker);
    args.extend(extra.iter().map(|s| s.to_string()));
    microdash_agent::config::Config::load(args).unwrap()
}
