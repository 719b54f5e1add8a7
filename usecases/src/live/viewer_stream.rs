//! One viewer's stream: the replay, then the live events through the viewer's filter, a
//! `Reset` when the viewer must reload history, and the end when it fell too far behind or
//! the server shuts down.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures::Stream;
use futures::StreamExt;
use futures::stream::BoxStream;
use microdash_domain::TenantId;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};

use super::hub::{Hub, HubMsg, Joined};
use super::{LiveEvent, LiveFilter};

/// What a viewer receives.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveItem {
    /// Samples the viewer selected, under the id of the bus message they came in.
    Samples(LiveEvent),
    /// The viewer cannot be brought up to date from here: it should reload history from the
    /// query API and continue after `id`.
    Reset {
        /// The id to continue after (also the one to resume from).
        id: u64,
        /// Why.
        reason: ResetReason,
    },
}

/// Why a viewer must reload history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// The resume point is older than this node's recent events, or unknown to it.
    TooOld,
    /// This node missed messages (e.g. while reconnecting to the bus).
    Missed,
    /// The viewer fell further behind than its buffer; the stream ends after this.
    TooSlow,
}

impl ResetReason {
    /// A stable snake_case name for clients.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooOld => "resume_point_too_old",
            Self::Missed => "messages_missed",
            Self::TooSlow => "too_slow",
        }
    }
}

/// A viewer cut off for falling behind: logged and counted together, so that the log and
/// the node's statistics cannot disagree.
struct ViewerTooSlow {
    tenant: TenantId,
    missed: u64,
    at: u64,
}

impl ViewerTooSlow {
    fn emit(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            tenant = %self.tenant, missed = self.missed, last_id = self.at,
            "Live viewer fell behind its buffer; told to reload and disconnected."
        );
    }
}

/// Holds a viewer's place in the stream limits; given back on drop.
pub(super) struct Permit {
    pub hub: Arc<Hub>,
    /// The place in the node's limit, held only to be given back after the hub's (fields
    /// drop after `drop`).
    #[allow(dead_code, reason = "held for its Drop")]
    pub node: NodePlace,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.hub.detach();
    }
}

/// A place in the node's limit of streams, given back when dropped (also when the request is
/// refused after taking it).
pub(super) struct NodePlace(pub Arc<AtomicUsize>);

impl Drop for NodePlace {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A viewer's live stream. Dropping it (the client went away) gives its place back.
pub struct LiveStream {
    items: BoxStream<'static, LiveItem>,
}

impl std::fmt::Debug for LiveStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveStream").finish_non_exhaustive()
    }
}

impl Stream for LiveStream {
    type Item = LiveItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<LiveItem>> {
        self.items.poll_next_unpin(cx)
    }
}

/// The state behind a [`LiveStream`].
pub(super) struct Viewing {
    pub permit: Permit,
    pub filter: LiveFilter,
    pub rx: broadcast::Receiver<HubMsg>,
    /// The newest id the viewer has been given or told about.
    pub cursor: u64,
    pub pending: VecDeque<LiveItem>,
    pub shutdown: watch::Receiver<bool>,
    /// Counts viewers cut off for being too slow (the node's statistics).
    pub too_slow: Arc<AtomicU64>,
    pub ended: bool,
}

impl Viewing {
    /// A viewer that just joined: the replay or the reset come first.
    pub fn new(
        permit: Permit,
        joined: Joined,
        filter: LiveFilter,
        shutdown: watch::Receiver<bool>,
        too_slow: Arc<AtomicU64>,
    ) -> Self {
        let mut pending: VecDeque<LiveItem> =
            joined.replay.iter().filter_map(|e| filter.apply(e)).map(LiveItem::Samples).collect();
        if joined.reset {
            pending.push_back(LiveItem::Reset { id: joined.cursor, reason: ResetReason::TooOld });
        }
        Self {
            permit,
            filter,
            rx: joined.rx,
            cursor: joined.cursor,
            pending,
            shutdown,
            too_slow,
            ended: false,
        }
    }

    pub fn into_stream(self) -> LiveStream {
        let items = futures::stream::unfold(self, |mut v| async move { v.next().await.map(|i| (i, v)) });
        LiveStream { items: items.boxed() }
    }

    /// The next item; `None` at the end. Waits for the bus or the shutdown.
    pub async fn next(&mut self) -> Option<LiveItem> {
        if let Some(item) = self.pending.pop_front() {
            return Some(item);
        }
        if self.ended {
            return None;
        }
        loop {
            let message = tokio::select! {
                biased;
                () = super::stopped(&mut self.shutdown) => return None,
                message = self.rx.recv() => message,
            };
            if let Some(item) = self.take(message) {
                return item;
            }
        }
    }

    /// The next item if one is ready now, without waiting.
    pub fn next_ready(&mut self) -> Option<LiveItem> {
        if let Some(item) = self.pending.pop_front() {
            return Some(item);
        }
        while !self.ended {
            let message = match self.rx.try_recv() {
                Err(broadcast::error::TryRecvError::Empty) => return None,
                Err(broadcast::error::TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(broadcast::error::TryRecvError::Closed) => Err(RecvError::Closed),
                Ok(m) => Ok(m),
            };
            if let Some(item) = self.take(message) {
                return item;
            }
        }
        None
    }

    /// What a message from the hub means for this viewer: `None` to skip it, `Some(None)`
    /// for the end.
    fn take(&mut self, message: Result<HubMsg, RecvError>) -> Option<Option<LiveItem>> {
        match message {
            Ok(HubMsg::Event(event)) => {
                if event.id <= self.cursor {
                    return None;
                }
                self.cursor = event.id;
                self.filter.apply(&event).map(|e| Some(LiveItem::Samples(e)))
            }
            Ok(HubMsg::Gap { last_id }) => {
                self.cursor = last_id;
                Some(Some(LiveItem::Reset { id: last_id, reason: ResetReason::Missed }))
            }
            Ok(HubMsg::Closed) | Err(RecvError::Closed) => {
                self.ended = true;
                Some(None)
            }
            Err(RecvError::Lagged(missed)) => {
                self.ended = true;
                ViewerTooSlow { tenant: self.permit.hub.tenant, missed, at: self.cursor }
                    .emit(&self.too_slow);
                self.cursor = self.permit.hub.head();
                Some(Some(LiveItem::Reset { id: self.cursor, reason: ResetReason::TooSlow }))
            }
        }
    }
}
