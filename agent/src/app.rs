//! The agent's main loop: collect on every tick, then print (`--stdout`) or hand the batch to
//! the [`Outbox`], while driving the MQTT session, reconnects and spool replay.

use std::future::Future;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::{Instant, MissedTickBehavior, interval, sleep, sleep_until};

use crate::batch::{to_json_lines, to_payload, to_samples};
use crate::collect::{Collectors, Point};
use crate::config::Config;
use crate::publish::backoff::Backoff;
use crate::publish::outbox::Outbox;
use crate::publish::{BrokerUrl, Session, SessionEvent, topic};
use crate::spool::{Spool, SpoolStats};

/// Publishes awaiting PUBACK at once: enough to replay 1,000 batches/s over a slow link.
const MAX_INFLIGHT: u16 = 100;

/// How long a shutdown waits for outstanding PUBACKs before spooling those batches.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest window `--once` waits between its two readings (rates need two).
const ONCE_WINDOW: Duration = Duration::from_secs(1);

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn collectors(cfg: &Config) -> Collectors {
    Collectors::new(&cfg.proc_root, &cfg.collectors, cfg.per_core)
}

fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The agent's own spool metrics, added to every published batch.
fn spool_points(s: SpoolStats, now_ms: i64) -> [Point; 4] {
    let age = s.oldest_ms.map_or(0.0, |o| (now_ms - o).max(0) as f64 / 1000.0);
    [
        Point::new("agent.spool.depth", s.depth as f64),
        Point::new("agent.spool.bytes", s.bytes as f64),
        Point::new("agent.spool.oldest_age_s", age),
        Point::new("agent.spool.dropped_total", s.dropped as f64),
    ]
}

/// Runs until `shutdown` resolves (or after one collection with `--once`).
///
/// # Errors
/// The spool directory cannot be opened, or the TLS configuration cannot be built.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    if cfg.stdout {
        run_stdout(&cfg, shutdown).await;
        return Ok(());
    }
    let url = BrokerUrl::parse(&cfg.broker).map_err(|e| anyhow::anyhow!("--broker {e}"))?;
    let spool = Spool::open(&cfg.spool_dir, cfg.spool_max_bytes)
        .map_err(|e| anyhow::anyhow!("spool directory {}: {e}", cfg.spool_dir.display()))?;
    let tenant = cfg.tenant.clone().unwrap_or_default();
    let mut outbox = Outbox::new(spool, topic(&tenant, cfg.agent_id()), MAX_INFLIGHT, cfg.replay_rate);
    let (mut collectors, tags) = (collectors(&cfg), cfg.static_tags());
    let (mut session, mut reconnect_at, mut backoff) = (None::<Session>, Instant::now(), Backoff::default());
    let mut tick = interval(cfg.interval.0);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    tracing::info!(broker = %cfg.broker, agent_id = cfg.agent_id(), spooled = outbox.stats().depth, "Agent started.");
    tokio::pin!(shutdown);
    loop {
        let replay_at = outbox.replay_due().filter(|_| session.is_some());
        tokio::select! {
            () = &mut shutdown => break,
            _ = tick.tick() => {
                let ts = now_ms();
                let mut points = collectors.collect();
                points.extend(spool_points(outbox.stats(), ts));
                let payload = to_payload(&to_samples(points, cfg.agent_id(), ts, &tags));
                outbox.submit(session.as_ref().map(|s| &s.client), ts, payload).await;
            }
            ev = next_event(&mut session) => match ev {
                SessionEvent::Connected => {
                    backoff.reset();
                    tracing::info!(spooled = outbox.stats().depth, "Connected to the broker.");
                    outbox.on_connected();
                }
                SessionEvent::Sent(pkid) => outbox.on_sent(pkid),
                SessionEvent::Acked(pkid) => outbox.on_acked(pkid),
                SessionEvent::Failed { auth, error } => {
                    session = None;
                    outbox.on_disconnected();
                    let delay = backoff.next_delay();
                    reconnect_at = Instant::now() + delay;
                    if auth {
                        tracing::error!(error = %error, retry_in_s = delay.as_secs_f32(),
                            "Broker refused the credentials; check --tenant and --token. Spooling meanwhile.");
                    } else {
                        tracing::warn!(error = %error, retry_in_s = delay.as_secs_f32(),
                            "Broker unreachable (network or closed connection); spooling meanwhile.");
                    }
                }
            },
            () = sleep_until(reconnect_at), if session.is_none() => {
                match Session::start(&cfg, &url, MAX_INFLIGHT) {
                    Ok(s) => session = Some(s),
                    Err(error) => {
                        tracing::error!(error = %error, "Cannot build the MQTT session; retrying later.");
                        reconnect_at = Instant::now() + backoff.next_delay();
                    }
                }
            }
            () = sleep_until(replay_at.unwrap_or_else(Instant::now)), if replay_at.is_some() => {
                if let Some(s) = &session {
                    outbox.replay_one(&s.client).await;
                }
            }
        }
    }
    flush(&mut outbox, &mut session).await;
    Ok(())
}

/// Next event of the current session; never resolves without one.
async fn next_event(session: &mut Option<Session>) -> SessionEvent {
    match session {
        Some(s) => s
            .events
            .recv()
            .await
            .unwrap_or(SessionEvent::Failed { auth: false, error: "event loop stopped".into() }),
        None => std::future::pending().await,
    }
}

/// Shutdown: wait (bounded) for outstanding PUBACKs, then spool what is still unacknowledged.
async fn flush(outbox: &mut Outbox, session: &mut Option<Session>) {
    let deadline = sleep(FLUSH_TIMEOUT);
    tokio::pin!(deadline);
    while outbox.in_flight() > 0 && session.is_some() {
        tokio::select! {
            () = &mut deadline => break,
            ev = next_event(session) => match ev {
                SessionEvent::Sent(p) => outbox.on_sent(p),
                SessionEvent::Acked(p) => outbox.on_acked(p),
                SessionEvent::Connected => {}
                SessionEvent::Failed { .. } => break,
            },
        }
    }
    let unacked = outbox.in_flight();
    outbox.on_disconnected();
    if let Some(s) = session.take() {
        let _ = s.client.try_disconnect();
    }
    tracing::info!(spooled = outbox.stats().depth, unacked, "Agent stopped.");
}

/// `--stdout`: print every collection as JSON lines (once with `--once`).
async fn run_stdout(cfg: &Config, shutdown: impl Future<Output = ()>) {
    let (mut collectors, tags) = (collectors(cfg), cfg.static_tags());
    let emit = |collectors: &mut Collectors| {
        let ts = now_ms();
        print(&to_json_lines(&to_samples(collectors.collect(), cfg.agent_id(), ts, &tags)));
    };
    if cfg.once {
        collectors.collect();
        sleep(cfg.interval.0.min(ONCE_WINDOW)).await;
        emit(&mut collectors);
        return;
    }
    let mut tick = interval(cfg.interval.0);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    tick.tick().await;
    collectors.collect();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = tick.tick() => emit(&mut collectors),
        }
    }
}
