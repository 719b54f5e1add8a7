use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use microdash_adapter_memory::{FakeClock, MemoryLiveBus};
use microdash_domain::sample::SeriesKey;
use microdash_domain::{AgentId, MetricName, Sample, Tags, TenantId, TenantSlug, Timestamp};
use microdash_usecases::live::{
    LimitScope, LiveEvent, LiveFilter, LiveItem, LivePoll, LiveStream, ResetReason,
};
use microdash_usecases::ports::LiveBus;
use microdash_usecases::{LiveError, LiveOptions, LiveService, Signer, Viewer};

const T0: i64 = 1_795_000_000_000;

struct Live {
    svc: LiveService,
    bus: Arc<MemoryLiveBus>,
    clock: Arc<FakeClock>,
}

fn live(options: LiveOptions) -> Live {
    let bus = Arc::new(MemoryLiveBus::new(1024));
    let clock = Arc::new(FakeClock::new(Timestamp::from_millis(T0)));
    let svc = LiveService::new(bus.clone(), clock.clone(), Signer::new(b"test secret"), options);
    Live { svc, bus, clock }
}

fn alpha() -> Viewer {
    Viewer { tenant: TenantId::new(1), slug: TenantSlug::new("alpha").unwrap() }
}

fn beta() -> Viewer {
    Viewer { tenant: TenantId::new(2), slug: TenantSlug::new("beta").unwrap() }
}

fn sample(metric: &str, agent: &str, value: f64) -> Sample {
    Sample {
        series: SeriesKey {
            metric: MetricName::new(metric).unwrap(),
            agent: Some(AgentId::new(agent).unwrap()),
            tags: Tags::empty(),
        },
        value,
        timestamp: Timestamp::from_millis(T0),
        dedupe_id: None,
    }
}

fn everything() -> LiveFilter {
    LiveFilter::default()
}

impl Live {
    async fn open(&self, viewer: &Viewer, resume: Option<u64>) -> LiveStream {
        self.svc.open(viewer, viewer.slug.as_str(), everything(), resume).await.unwrap()
    }

    async fn publish(&self, viewer: &Viewer, samples: Vec<Sample>) {
        self.bus.publish(viewer.tenant, Arc::new(samples)).await.unwrap();
    }

    /// Publishes `n` events of one `cpu` sample (values `from..from+n`).
    async fn publish_cpu(&self, viewer: &Viewer, from: u32, n: u32) {
        for v in from..from + n {
            self.publish(viewer, vec![sample("cpu", "h1", f64::from(v))]).await;
        }
    }
}

async fn next(stream: &mut LiveStream) -> LiveItem {
    tokio::time::timeout(Duration::from_secs(5), stream.next()).await.expect("an item in time").expect("open")
}

async fn next_event(stream: &mut LiveStream) -> LiveEvent {
    match next(stream).await {
        LiveItem::Samples(e) => e,
        other => panic!("expected samples, got {other:?}"),
    }
}

fn values(e: &LiveEvent) -> Vec<f64> {
    e.samples.iter().map(|s| s.value).collect()
}

#[tokio::test]
async fn a_viewer_gets_the_samples_it_selected_under_the_bus_ids() {
    let live = live(LiveOptions::default());
    let filter = LiveFilter::parse(Some("cpu"), Some("h1")).unwrap();
    let mut stream = live.svc.open(&alpha(), "alpha", filter, None).await.unwrap();
    let mut all = live.open(&alpha(), None).await;

    live.publish(
        &alpha(),
        vec![sample("cpu", "h1", 1.0), sample("mem", "h1", 2.0), sample("cpu", "h2", 3.0)],
    )
    .await;
    live.publish(&alpha(), vec![sample("mem", "h1", 4.0)]).await;
    live.publish(&alpha(), vec![sample("cpu", "h1", 5.0)]).await;

    let (first, second) = (next_event(&mut stream).await, next_event(&mut stream).await);
    assert_eq!((values(&first), values(&second)), (vec![1.0], vec![5.0]), "only cpu on h1");
    let ids: Vec<u64> = [next_event(&mut all).await, next_event(&mut all).await, next_event(&mut all).await]
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!([first.id, second.id], [ids[0], ids[2]], "the same ids as the unfiltered viewer");
    assert_eq!(ids, [ids[0], ids[0] + 1, ids[0] + 2]);
}

#[tokio::test]
async fn a_tenants_viewers_never_see_another_tenants_samples() {
    let live = live(LiveOptions::default());
    let mut beta_stream = live.open(&beta(), None).await;
    live.publish(&alpha(), vec![sample("secret", "h1", 1.0)]).await;
    live.publish(&beta(), vec![sample("own", "h1", 2.0)]).await;
    assert_eq!(next_event(&mut beta_stream).await.samples[0].series.metric.as_str(), "own");

    let refused = live.svc.open(&beta(), "alpha", everything(), None).await;
    assert!(matches!(refused, Err(LiveError::Forbidden { .. })), "{refused:?}");
}

#[tokio::test]
async fn a_viewer_resuming_within_the_recent_events_gets_exactly_what_it_missed() {
    let live = live(LiveOptions::default());
    let mut first = live.open(&alpha(), None).await;
    live.publish_cpu(&alpha(), 0, 1).await;
    let seen = next_event(&mut first).await;
    drop(first);

    live.publish_cpu(&alpha(), 1, 2).await;
    // Another node's viewer would not matter; here the node keeps the tenant for `idle_keep`.
    let mut resumed = live.open(&alpha(), Some(seen.id)).await;
    live.publish_cpu(&alpha(), 3, 1).await;

    let got =
        [next_event(&mut resumed).await, next_event(&mut resumed).await, next_event(&mut resumed).await];
    assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), [seen.id + 1, seen.id + 2, seen.id + 3]);
    assert_eq!(got.iter().flat_map(values).collect::<Vec<_>>(), [1.0, 2.0, 3.0], "none lost, none twice");
}

#[tokio::test]
async fn a_resume_point_older_than_the_recent_events_gets_a_reset_then_live_events() {
    let live = live(LiveOptions { replay_events: 2, ..LiveOptions::default() });
    let mut witness = live.open(&alpha(), None).await;
    live.publish_cpu(&alpha(), 0, 5).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(next_event(&mut witness).await.id);
    }

    let mut late = live.open(&alpha(), Some(ids[0])).await;
    assert_eq!(next(&mut late).await, LiveItem::Reset { id: ids[4], reason: ResetReason::TooOld });
    live.publish_cpu(&alpha(), 5, 1).await;
    assert_eq!(next_event(&mut late).await.id, ids[4] + 1, "then it continues live");

    let mut recent = live.open(&alpha(), Some(ids[3])).await;
    assert_eq!(next_event(&mut recent).await.id, ids[4], "a point within the last two is served");
    let mut unknown = live.open(&alpha(), Some(ids[4] + 100)).await;
    assert!(
        matches!(next(&mut unknown).await, LiveItem::Reset { reason: ResetReason::TooOld, .. }),
        "an id from the future"
    );
}

#[tokio::test]
async fn a_viewer_that_falls_behind_is_reset_and_dropped_without_slowing_the_others() {
    let live = live(LiveOptions { viewer_buffer: 4, ..LiveOptions::default() });
    let mut slow = live.open(&alpha(), None).await;
    let mut fast = live.open(&alpha(), None).await;

    let mut last = 0;
    for v in 0..20 {
        live.publish_cpu(&alpha(), v, 1).await;
        last = next_event(&mut fast).await.id; // keeps up, one by one
    }

    match next(&mut slow).await {
        LiveItem::Reset { id, reason: ResetReason::TooSlow } => {
            assert_eq!(id, last, "reload up to the newest")
        }
        other => panic!("expected a reset, got {other:?}"),
    }
    assert!(slow.next().await.is_none(), "then the slow viewer is disconnected");
    let stats = live.svc.stats().await;
    assert_eq!((stats.dropped_too_slow, stats.viewers), (1, 1), "{stats:?}");
    live.publish_cpu(&alpha(), 20, 1).await;
    assert_eq!(next_event(&mut fast).await.id, last + 1);
}

#[tokio::test]
async fn tickets_open_only_their_tenants_stream_and_only_for_a_minute() {
    let live = live(LiveOptions::default());
    let ticket = live.svc.issue_ticket(&alpha());
    assert_eq!(ticket.expires_at, Timestamp::from_millis(T0 + 60_000));
    assert_eq!(ticket.tenant.as_str(), "alpha");

    let viewer = live.svc.redeem_ticket(&ticket.ticket).unwrap();
    assert_eq!(viewer, alpha());
    let other = live.svc.open(&viewer, "beta", everything(), None).await;
    assert!(matches!(other, Err(LiveError::Forbidden { .. })), "{other:?}");

    live.clock.advance(Duration::from_secs(59));
    assert!(live.svc.redeem_ticket(&ticket.ticket).is_ok());
    live.clock.advance(Duration::from_secs(1));
    assert!(matches!(live.svc.redeem_ticket(&ticket.ticket), Err(LiveError::TicketExpired)));
    let forged = ticket.ticket.replacen("1.alpha", "2.alpha", 1);
    assert!(matches!(live.svc.redeem_ticket(&forged), Err(LiveError::InvalidTicket)));
}

#[tokio::test]
async fn stream_limits_hold_per_tenant_and_per_node_and_free_up_when_a_viewer_leaves() {
    let live =
        live(LiveOptions { max_streams_per_tenant: 2, max_streams_per_node: 3, ..LiveOptions::default() });
    let a1 = live.open(&alpha(), None).await;
    let _a2 = live.open(&alpha(), None).await;
    let refused = live.svc.open(&alpha(), "alpha", everything(), None).await;
    assert!(
        matches!(refused, Err(LiveError::TooManyStreams { scope: LimitScope::Tenant, limit: 2 })),
        "{refused:?}"
    );

    let _b1 = live.open(&beta(), None).await;
    let refused = live.svc.poll(&beta(), everything(), None, Duration::ZERO).await;
    assert!(
        matches!(refused, Err(LiveError::TooManyStreams { scope: LimitScope::Node, limit: 3 })),
        "{refused:?}"
    );
    let gamma = Viewer { tenant: TenantId::new(3), slug: TenantSlug::new("gamma").unwrap() };
    let refused = live.svc.open(&gamma, "gamma", everything(), None).await;
    assert!(matches!(refused, Err(LiveError::TooManyStreams { scope: LimitScope::Node, .. })), "{refused:?}");
    let stats = live.svc.stats().await;
    assert_eq!((stats.viewers, stats.tenants), (3, 2), "a refused tenant is not subscribed to");

    drop(a1);
    assert!(live.svc.open(&alpha(), "alpha", everything(), None).await.is_ok(), "a place came free");
}

#[tokio::test(start_paused = true)]
async fn a_long_poll_gets_the_same_events_and_ids_as_a_stream_and_can_take_over_from_it() {
    let live = live(LiveOptions::default());
    let cpu = || LiveFilter::parse(Some("cpu"), None).unwrap();
    let mut stream = live.svc.open(&alpha(), "alpha", cpu(), None).await.unwrap();
    let start = live.svc.poll(&alpha(), cpu(), None, Duration::ZERO).await.unwrap();
    assert_eq!((start.events.len(), start.reset), (0, None), "nothing yet, but a cursor");

    live.publish(&alpha(), vec![sample("cpu", "h1", 1.0)]).await;
    live.publish(&alpha(), vec![sample("mem", "h1", 2.0)]).await;
    live.publish(&alpha(), vec![sample("cpu", "h1", 3.0), sample("mem", "h1", 4.0)]).await;
    let streamed = [next_event(&mut stream).await, next_event(&mut stream).await];
    let polled =
        live.svc.poll(&alpha(), cpu(), Some(start.last_event_id), Duration::from_secs(25)).await.unwrap();
    assert_eq!(polled.events, streamed, "same events, same ids, same filtering");
    assert_eq!(polled.last_event_id, streamed[1].id);

    // Switching from the stream to polling after the first event loses and repeats nothing.
    let take_over =
        live.svc.poll(&alpha(), cpu(), Some(streamed[0].id), Duration::from_secs(25)).await.unwrap();
    assert_eq!(take_over.events, streamed[1..]);
}

#[tokio::test(start_paused = true)]
async fn a_long_poll_waits_for_the_next_event_or_answers_empty_after_the_wait() {
    let live = live(LiveOptions::default());
    let cursor = live.svc.poll(&alpha(), everything(), None, Duration::ZERO).await.unwrap().last_event_id;

    let started = tokio::time::Instant::now();
    let empty = live.svc.poll(&alpha(), everything(), Some(cursor), Duration::from_secs(25)).await.unwrap();
    assert_eq!(empty, LivePoll { events: vec![], last_event_id: cursor, reset: None });
    assert_eq!(started.elapsed(), Duration::from_secs(25));

    let svc = live.svc.clone();
    let waiting =
        tokio::spawn(
            async move { svc.poll(&alpha(), everything(), Some(cursor), Duration::from_secs(25)).await },
        );
    tokio::time::sleep(Duration::from_secs(3)).await;
    live.publish_cpu(&alpha(), 7, 1).await;
    let got = waiting.await.unwrap().unwrap();
    assert_eq!(got.events.iter().flat_map(values).collect::<Vec<_>>(), [7.0]);
    assert!(started.elapsed() < Duration::from_secs(29), "answered as soon as the event came");

    let too_long = live.svc.poll(&alpha(), everything(), None, Duration::from_secs(56)).await;
    assert!(matches!(too_long, Err(LiveError::InvalidParameter { field: "wait", .. })));
}

#[tokio::test]
async fn shutdown_ends_every_stream_and_refuses_new_ones() {
    let live = live(LiveOptions::default());
    let mut stream = live.open(&alpha(), None).await;
    let svc = live.svc.clone();
    let poll =
        tokio::spawn(async move { svc.poll(&alpha(), everything(), None, Duration::from_secs(25)).await });
    while live.svc.stats().await.viewers < 2 {
        tokio::task::yield_now().await;
    }

    live.svc.shutdown();

    assert!(tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().is_none());
    let answered = tokio::time::timeout(Duration::from_secs(5), poll).await.expect("the poll ends now");
    assert!(answered.unwrap().unwrap().events.is_empty());
    assert!(matches!(
        live.svc.open(&alpha(), "alpha", everything(), None).await,
        Err(LiveError::ShuttingDown)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_tenants_subscription_outlives_its_last_viewer_for_a_while_then_is_released() {
    let live = live(LiveOptions { idle_keep: Duration::from_secs(60), ..LiveOptions::default() });
    let stream = live.open(&alpha(), None).await;
    assert_eq!(live.svc.stats().await.tenants, 1);
    drop(stream);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(live.svc.stats().await.tenants, 1, "kept for viewers who come back");
    tokio::time::sleep(Duration::from_secs(45)).await;
    let stats = live.svc.stats().await;
    assert_eq!((stats.tenants, stats.viewers), (0, 0), "released after idle_keep: {stats:?}");
}
