//! A hub: what one api node keeps for one tenant while it has viewers (and a little after):
//! the node's one bus subscription for the tenant, a ring of recent events for resuming, and
//! the fan-out to the node's viewers.
//!
//! The fan-out is a broadcast channel whose capacity is each viewer's buffer: sending never
//! waits, so a viewer that stops reading falls behind alone (and is then cut off) while the
//! others keep receiving. The ring and the channel change under one lock, so a viewer that
//! joins gets the replay and then exactly the events after it, none twice, none missing.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use microdash_domain::{Sample, TenantId};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::LiveEvent;
use crate::ports::LiveMessage;

/// How far ahead of this node a resume point may be and still be trusted: a viewer that
/// reconnects to another node may have seen a few messages that node has not processed yet.
/// Anything further ahead is not an id of this tenant (or of this bus's lifetime).
const AHEAD_TOLERANCE: u64 = 64;

/// What a hub sends its viewers.
#[derive(Debug, Clone)]
pub(super) enum HubMsg {
    /// The next event.
    Event(LiveEvent),
    /// The node missed messages up to here (the id of the next event is `last_id + 1` or more).
    Gap { last_id: u64 },
    /// The hub stopped (its bus subscription ended).
    Closed,
}

/// Sizes of a hub.
#[derive(Debug, Clone, Copy)]
pub(super) struct HubLimits {
    pub ring_events: usize,
    pub ring_samples: usize,
    pub viewer_buffer: usize,
}

/// Recent events: every event with an id in `(base, head]`, in id order. Ids are consecutive,
/// except that a tenant that had never published when the hub started (`base` 0) starts at
/// whatever id its first message has.
struct Ring {
    base: u64,
    head: u64,
    events: VecDeque<LiveEvent>,
    samples: usize,
}

impl Ring {
    /// The events after `last`; `None` when some of them are no longer (or never were) here.
    fn after(&self, last: u64) -> Option<Vec<LiveEvent>> {
        let first = self.events.front().map_or(self.head + 1, |e| e.id);
        let covered = last == self.base || (last < self.head && first <= last + 1) || last == self.head;
        if !covered || last > self.head {
            return None;
        }
        let from = self.events.partition_point(|e| e.id <= last);
        Some(self.events.iter().skip(from).cloned().collect())
    }
}

/// One tenant on one node.
pub(super) struct Hub {
    pub tenant: TenantId,
    limits: HubLimits,
    /// A std mutex: held for a ring update plus a non-blocking send, never across an await.
    ring: Mutex<Ring>,
    tx: broadcast::Sender<HubMsg>,
    /// Viewers attached now: open streams and waiting long-polls.
    pub viewers: AtomicUsize,
    /// Since when the hub has had no viewers; `None` while it has some.
    idle_since: Mutex<Option<Instant>>,
}

/// What a viewer gets when it joins.
pub(super) struct Joined {
    /// Events after the resume point, to send first.
    pub replay: Vec<LiveEvent>,
    /// True when the resume point could not be served: the viewer must reload history.
    pub reset: bool,
    /// The newest id the viewer has now been given (or told to reload up to).
    pub cursor: u64,
    /// Everything after `cursor`.
    pub rx: broadcast::Receiver<HubMsg>,
}

impl Hub {
    /// A hub whose bus subscription started after message `last_id`.
    pub fn new(tenant: TenantId, last_id: u64, limits: HubLimits) -> Self {
        let ring = Ring { base: last_id, head: last_id, events: VecDeque::new(), samples: 0 };
        Self {
            tenant,
            limits,
            ring: Mutex::new(ring),
            tx: broadcast::channel(limits.viewer_buffer.max(1)).0,
            viewers: AtomicUsize::new(0),
            idle_since: Mutex::new(Some(Instant::now())),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().expect("live hub mutex poisoned")
    }

    /// The newest id this node has seen for the tenant.
    pub fn head(&self) -> u64 {
        self.ring().head
    }

    /// Joins after `resume` (the last id the viewer has), or from now.
    pub fn join(&self, resume: Option<u64>) -> Joined {
        let ring = self.ring();
        let rx = self.tx.subscribe();
        let (replay, reset, cursor) = match resume {
            None => (Vec::new(), false, ring.head),
            // The messages up to `last` are on their way here; skip them when they come.
            Some(last) if ring.head != 0 && last > ring.head && last - ring.head <= AHEAD_TOLERANCE => {
                (Vec::new(), false, last)
            }
            Some(last) => match ring.after(last) {
                Some(events) => (events, false, ring.head),
                None => (Vec::new(), true, ring.head),
            },
        };
        Joined { replay, reset, cursor, rx }
    }

    /// Takes a message from the bus into the ring and out to the viewers.
    fn accept(&self, id: u64, samples: Arc<Vec<Sample>>) {
        let mut ring = self.ring();
        if id <= ring.head {
            return; // Already here (the bus may repeat what preceded a subscription).
        }
        // A tenant that had never published starts at an id the hub cannot know in advance.
        if id != ring.head + 1 && ring.head != 0 {
            // Messages were lost on the way to this node: what the ring holds can no longer
            // bring anyone up to date, and every viewer must reload.
            tracing::info!(tenant = %self.tenant, after = ring.head, next = id, "Live messages were lost; viewers reload.");
            ring.events.clear();
            ring.samples = 0;
            ring.base = id - 1;
            let _ = self.tx.send(HubMsg::Gap { last_id: id - 1 });
        }
        ring.head = id;
        ring.samples += samples.len();
        let event = LiveEvent { id, samples };
        ring.events.push_back(event.clone());
        while ring.events.len() > self.limits.ring_events || ring.samples > self.limits.ring_samples {
            let Some(old) = ring.events.pop_front() else { break };
            ring.samples -= old.samples.len();
            ring.base = old.id;
        }
        // Fails only when no viewer is attached, which is fine.
        let _ = self.tx.send(HubMsg::Event(event));
    }

    /// Records that a viewer arrived.
    pub fn attach(&self) {
        self.viewers.fetch_add(1, Ordering::SeqCst);
        *self.idle_since.lock().expect("live hub mutex poisoned") = None;
    }

    /// Records that a viewer left.
    pub fn detach(&self) {
        if self.viewers.fetch_sub(1, Ordering::SeqCst) == 1 {
            *self.idle_since.lock().expect("live hub mutex poisoned") = Some(Instant::now());
        }
    }

    fn idle_for(&self, keep: Duration) -> bool {
        self.viewers.load(Ordering::SeqCst) == 0
            && self
                .idle_since
                .lock()
                .expect("live hub mutex poisoned")
                .is_some_and(|since| since.elapsed() >= keep)
    }
}

/// The hubs of one node, by tenant. A tokio mutex: creating a hub awaits the bus subscription,
/// and holding the lock meanwhile means a tenant never gets two.
pub(super) type HubMap = tokio::sync::Mutex<HashMap<TenantId, Arc<Hub>>>;

/// Runs a hub: feeds it from the bus until shutdown, the end of the subscription, or
/// `idle_keep` without viewers (kept that long so that a viewer who reconnects, or a
/// long-poll's next request, still finds the recent events).
pub(super) async fn run(
    hub: Arc<Hub>,
    mut messages: BoxStream<'static, LiveMessage>,
    hubs: Arc<HubMap>,
    idle_keep: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut idle_check = tokio::time::interval((idle_keep / 4).max(Duration::from_millis(10)));
    idle_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = messages.next() => match message {
                Some(LiveMessage::Samples { id, samples }) => hub.accept(id, samples),
                // The ids of the next messages show what was lost.
                Some(LiveMessage::Lagged(_)) => {}
                None => break,
            },
            _ = idle_check.tick() => {
                if hub.idle_for(idle_keep) && remove_if_idle(&hubs, &hub, idle_keep).await {
                    return;
                }
            }
            () = super::stopped(&mut shutdown) => break,
        }
    }
    let mut map = hubs.lock().await;
    if map.get(&hub.tenant).is_some_and(|h| Arc::ptr_eq(h, &hub)) {
        map.remove(&hub.tenant);
    }
    let _ = hub.tx.send(HubMsg::Closed);
}

/// Removes an idle hub, unless a viewer joined meanwhile (joining holds the same lock).
async fn remove_if_idle(hubs: &HubMap, hub: &Arc<Hub>, idle_keep: Duration) -> bool {
    let mut map = hubs.lock().await;
    if !hub.idle_for(idle_keep) {
        return false;
    }
    if map.get(&hub.tenant).is_some_and(|h| Arc::ptr_eq(h, hub)) {
        map.remove(&hub.tenant);
    }
    true
}

#[cfg(test)]
mod tests {
    use microdash_domain::sample::SeriesKey;
    use microdash_domain::{MetricName, Tags, Timestamp};

    use super::*;

    fn limits(ring_events: usize, ring_samples: usize) -> HubLimits {
        HubLimits { ring_events, ring_samples, viewer_buffer: 16 }
    }

    fn ids(events: &[LiveEvent]) -> Vec<u64> {
        events.iter().map(|e| e.id).collect()
    }

    fn none() -> Arc<Vec<Sample>> {
        Arc::new(Vec::new())
    }

    #[test]
    fn the_ring_replays_what_it_holds_and_refuses_what_it_lost() {
        let hub = Hub::new(TenantId::new(1), 100, limits(3, 1_000));
        for id in 101..=105 {
            hub.accept(id, none());
        }
        let after = |last| hub.join(Some(last));
        assert_eq!(ids(&after(102).replay), [103, 104, 105]);
        assert!(!after(102).reset);
        assert_eq!(ids(&after(104).replay), [105]);
        assert!(after(105).replay.is_empty() && !after(105).reset, "up to date");
        assert!(after(101).reset, "104 was evicted from a ring of 3");
        assert!(!after(106).reset && after(106).cursor == 106, "a node a message behind the viewer");
        assert!(after(105 + AHEAD_TOLERANCE + 1).reset, "an id this node cannot be about to see");
        assert_eq!(after(101).cursor, 105);
    }

    #[test]
    fn a_viewer_ahead_of_this_node_skips_what_it_already_has() {
        let hub = Hub::new(TenantId::new(1), 100, limits(10, 1_000));
        let mut joined = hub.join(Some(102));
        hub.accept(101, none());
        hub.accept(102, none());
        hub.accept(103, none());
        let fresh: Vec<u64> = std::iter::from_fn(|| match joined.rx.try_recv() {
            Ok(HubMsg::Event(e)) => Some(e.id),
            _ => None,
        })
        .filter(|id| *id > joined.cursor)
        .collect();
        assert_eq!(fresh, [103]);
    }

    #[test]
    fn a_gap_from_the_bus_resets_the_ring_and_tells_the_viewers() {
        let hub = Hub::new(TenantId::new(1), 10, limits(100, 1_000));
        let mut viewer = hub.join(None).rx;
        hub.accept(11, none());
        hub.accept(11, none()); // a repeat is ignored
        hub.accept(15, none());
        assert!(matches!(viewer.try_recv(), Ok(HubMsg::Event(e)) if e.id == 11));
        assert!(matches!(viewer.try_recv(), Ok(HubMsg::Gap { last_id: 14 })));
        assert!(matches!(viewer.try_recv(), Ok(HubMsg::Event(e)) if e.id == 15));
        assert!(viewer.try_recv().is_err());
        assert!(hub.join(Some(11)).reset, "what came before the gap cannot be completed");
        assert_eq!(ids(&hub.join(Some(14)).replay), [15]);
    }

    #[test]
    fn a_tenant_that_had_never_published_starts_at_its_first_id_without_a_gap() {
        let hub = Hub::new(TenantId::new(1), 0, limits(100, 1_000));
        let mut viewer = hub.join(Some(0)).rx;
        let start = 1_795_000_000_000_000;
        hub.accept(start, none());
        hub.accept(start + 1, none());
        assert!(matches!(viewer.try_recv(), Ok(HubMsg::Event(e)) if e.id == start), "no gap");
        assert_eq!(ids(&hub.join(Some(0)).replay), [start, start + 1], "0 means: everything");
        assert_eq!(ids(&hub.join(Some(start)).replay), [start + 1]);
        assert!(hub.join(Some(start - 7)).reset, "an id from before a restart of the bus");
    }

    #[test]
    fn the_ring_is_bounded_by_samples_too() {
        let hub = Hub::new(TenantId::new(1), 0, limits(100, 5));
        let three = || {
            let series =
                SeriesKey { metric: MetricName::new("m").unwrap(), agent: None, tags: Tags::empty() };
            let s = Sample { series, value: 1.0, timestamp: Timestamp::from_millis(0), dedupe_id: None };
            Arc::new(vec![s.clone(), s.clone(), s])
        };
        hub.accept(1, three());
        hub.accept(2, three());
        assert!(hub.join(Some(0)).reset, "6 samples exceed 5: the first event went");
        assert_eq!(ids(&hub.join(Some(1)).replay), [2]);
    }
}
