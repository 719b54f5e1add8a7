//! Live samples for viewers: what one api node does between the live bus and its SSE and
//! long-poll clients. Each node subscribes once per watched tenant and fans out in process;
//! event ids come from the bus, so they mean the same on every node, and a viewer can resume
//! (`Last-Event-ID`) or switch transports (SSE ↔ long-poll) on any node without losing or
//! repeating samples, as long as the node still holds the events since then.
//!
//! Not for: history. Whatever a viewer cannot be given from the recent events it is told to
//! reload from the query API ([`LiveItem::Reset`]).
//!
//! # Layout
//! - `hub`: per tenant per node: the bus subscription, the ring of recent events, the fan-out.
//! - `viewer_stream`: one viewer's stream ([`LiveStream`], [`LiveItem`]).
//! - `filter`: the metrics and agents a viewer selected ([`LiveFilter`]).
//! - `ticket`: signed, short-lived stream tickets for browsers ([`StreamTicket`]).

mod filter;
mod hub;
mod ticket;
mod viewer_stream;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use microdash_domain::{Sample, TenantId, TenantSlug};
use tokio::sync::watch;

pub use filter::{LiveFilter, MAX_FILTER_NAMES};
pub use ticket::StreamTicket;
pub use viewer_stream::{LiveItem, LiveStream, ResetReason};

use crate::auth::Principal;
use crate::ports::{ClockRef, LiveBusError, LiveBusRef};
use crate::signing::Signer;
use hub::{Hub, HubLimits, HubMap};
use viewer_stream::{NodePlace, Permit, Viewing};

/// Longest a long-poll may wait: below the 60 s after which common proxies give up on a
/// silent response.
pub const MAX_POLL_WAIT: Duration = Duration::from_secs(55);

/// Limits and sizes of the live endpoints of one node.
#[derive(Debug, Clone, Copy)]
pub struct LiveOptions {
    /// Most viewers (streams and waiting long-polls) of one tenant on this node.
    pub max_streams_per_tenant: usize,
    /// Most viewers on this node in all.
    pub max_streams_per_node: usize,
    /// Most recent events kept per tenant for resuming.
    pub replay_events: usize,
    /// Most samples in those events: bounds the memory of a busy tenant's ring.
    pub replay_samples: usize,
    /// Events a viewer may fall behind before it is told to reload and disconnected.
    pub viewer_buffer: usize,
    /// How long a tenant's subscription and recent events outlive its last viewer, so that
    /// a reconnecting viewer or a long-poll's next request can still resume.
    pub idle_keep: Duration,
    /// How long a stream ticket opens streams.
    pub ticket_ttl: Duration,
}

impl Default for LiveOptions {
    fn default() -> Self {
        Self {
            max_streams_per_tenant: 1_000,
            max_streams_per_node: 10_000,
            replay_events: 1_024,
            replay_samples: 20_000,
            viewer_buffer: 1_024,
            idle_keep: Duration::from_secs(60),
            ticket_ttl: Duration::from_secs(60),
        }
    }
}

/// The tenant a live viewer may watch, from a token or a stream ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// The tenant.
    pub tenant: TenantId,
    /// Its slug, which stream URLs name.
    pub slug: TenantSlug,
}

impl From<&Principal> for Viewer {
    fn from(p: &Principal) -> Self {
        Self { tenant: p.tenant, slug: p.tenant_slug.clone() }
    }
}

/// Samples that were stored together, under their bus id.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveEvent {
    /// The id: increasing per tenant, the same on every node.
    pub id: u64,
    /// The samples, in storage order.
    pub samples: Arc<Vec<Sample>>,
}

/// The answer to a long-poll.
#[derive(Debug, Clone, PartialEq)]
pub struct LivePoll {
    /// Events after `since`, through the filter; empty when none came in time.
    pub events: Vec<LiveEvent>,
    /// Where the next poll continues (`since`): the newest id examined, which may be past the
    /// last event returned when newer ones did not match the filter.
    pub last_event_id: u64,
    /// Set when the caller must reload history first (then continue after `last_event_id`).
    pub reset: Option<ResetReason>,
}

/// Which stream limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    /// Viewers of one tenant on this node.
    Tenant,
    /// Viewers on this node.
    Node,
}

impl fmt::Display for LimitScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tenant => "for this tenant on this server",
            Self::Node => "on this server",
        })
    }
}

/// Why a live request failed.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The ticket is malformed, altered, or from another deployment.
    #[error("invalid stream ticket")]
    InvalidTicket,
    /// The ticket was genuine but has expired.
    #[error("the stream ticket has expired; request a new one")]
    TicketExpired,
    /// The credential belongs to another tenant than the one asked for.
    #[error("this credential is for tenant '{allowed}', not '{requested}'")]
    Forbidden {
        /// The tenant in the request.
        requested: String,
        /// The credential's tenant.
        allowed: TenantSlug,
    },
    /// A stream limit is reached.
    #[error("too many live streams {scope} (at most {limit}); retry later")]
    TooManyStreams {
        /// Which limit.
        scope: LimitScope,
        /// Its value.
        limit: usize,
    },
    /// A parameter is wrong.
    #[error("{field}: {message}")]
    InvalidParameter {
        /// The parameter.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The server is shutting down and opens no new streams.
    #[error("the server is shutting down; reconnect to another")]
    ShuttingDown,
    /// The live bus cannot be reached.
    #[error(transparent)]
    Bus(#[from] LiveBusError),
}

/// Counters of one node's live endpoints, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveStats {
    /// Viewers attached now.
    pub viewers: usize,
    /// Tenants with a subscription on this node now.
    pub tenants: usize,
    /// Viewers cut off since start for falling behind.
    pub dropped_too_slow: u64,
}

/// Completes once `shutdown` says stop (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; it is dropped here, before any other await.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Live streams and long-polls of one api node.
#[derive(Clone)]
pub struct LiveService {
    bus: LiveBusRef,
    clock: ClockRef,
    signer: Signer,
    options: LiveOptions,
    hubs: Arc<HubMap>,
    viewers: Arc<AtomicUsize>,
    too_slow: Arc<AtomicU64>,
    shutdown: Arc<watch::Sender<bool>>,
}

impl LiveService {
    /// Builds the service. `signer` holds the deployment's shared secret, so that tickets
    /// issued by one api node open streams on all of them.
    pub fn new(bus: LiveBusRef, clock: ClockRef, signer: Signer, options: LiveOptions) -> Self {
        Self {
            bus,
            clock,
            signer,
            options,
            hubs: Arc::new(HubMap::new(HashMap::new())),
            viewers: Arc::new(AtomicUsize::new(0)),
            too_slow: Arc::new(AtomicU64::new(0)),
            shutdown: Arc::new(watch::channel(false).0),
        }
    }

    /// Issues a stream ticket for the caller's tenant, valid for [`LiveOptions::ticket_ttl`].
    #[tracing::instrument(name = "live.issue_ticket", skip_all, fields(tenant = %viewer.tenant))]
    pub fn issue_ticket(&self, viewer: &Viewer) -> StreamTicket {
        let ttl = i64::try_from(self.options.ticket_ttl.as_millis()).unwrap_or(i64::MAX);
        ticket::issue(&self.signer, viewer, self.clock.now().plus_millis(ttl))
    }

    /// The viewer a ticket stands for.
    ///
    /// # Errors
    /// [`LiveError::InvalidTicket`] for anything but a genuine ticket; [`LiveError::TicketExpired`]
    /// for a genuine one past its expiry.
    pub fn redeem_ticket(&self, ticket: &str) -> Result<Viewer, LiveError> {
        ticket::redeem(&self.signer, ticket, self.clock.now())
    }

    /// Opens a live stream of `tenant` (a slug, as in the URL) for `viewer`, resuming after
    /// `resume` when given: the events since then come first, or a reset when this node no
    /// longer has them all.
    ///
    /// # Errors
    /// - [`LiveError::Forbidden`] when `tenant` is not the viewer's.
    /// - [`LiveError::TooManyStreams`] at a stream limit.
    /// - [`LiveError::ShuttingDown`] once [`LiveService::shutdown`] was called.
    /// - [`LiveError::Bus`] when the live bus cannot be reached.
    #[tracing::instrument(name = "live.open", skip_all, fields(tenant = %viewer.tenant, resume = ?resume))]
    pub async fn open(
        &self,
        viewer: &Viewer,
        tenant: &str,
        filter: LiveFilter,
        resume: Option<u64>,
    ) -> Result<LiveStream, LiveError> {
        if tenant != viewer.slug.as_str() {
            return Err(LiveError::Forbidden { requested: tenant.to_owned(), allowed: viewer.slug.clone() });
        }
        let (permit, joined) = self.attach(viewer.tenant, resume).await?;
        let viewing = Viewing::new(permit, joined, filter, self.shutdown.subscribe(), self.too_slow.clone());
        Ok(viewing.into_stream())
    }

    /// Long-poll: the events after `since` (or from now) through `filter`, answered as soon
    /// as there are any, else after `wait` with none. Same events and ids as a stream.
    ///
    /// # Errors
    /// - [`LiveError::InvalidParameter`] when `wait` exceeds [`MAX_POLL_WAIT`].
    /// - [`LiveError::TooManyStreams`], [`LiveError::ShuttingDown`], [`LiveError::Bus`] as for
    ///   [`LiveService::open`].
    #[tracing::instrument(name = "live.poll", skip_all, fields(tenant = %viewer.tenant, since = ?since))]
    pub async fn poll(
        &self,
        viewer: &Viewer,
        filter: LiveFilter,
        since: Option<u64>,
        wait: Duration,
    ) -> Result<LivePoll, LiveError> {
        if wait > MAX_POLL_WAIT {
            return Err(LiveError::InvalidParameter {
                field: "wait",
                message: format!("at most {} s", MAX_POLL_WAIT.as_secs()),
            });
        }
        let (permit, joined) = self.attach(viewer.tenant, since).await?;
        let mut viewing =
            Viewing::new(permit, joined, filter, self.shutdown.subscribe(), self.too_slow.clone());
        let mut events = Vec::new();
        let mut reset = None;
        let mut next = tokio::time::timeout(wait, viewing.next()).await.ok().flatten();
        while let Some(item) = next {
            match item {
                LiveItem::Samples(event) => events.push(event),
                LiveItem::Reset { reason, .. } => {
                    reset = Some(reason);
                    break;
                }
            }
            // Whatever else is already here goes in the same answer.
            next = viewing.next_ready();
        }
        Ok(LivePoll { events, last_event_id: viewing.cursor, reset })
    }

    /// Ends every stream and long-poll cleanly and refuses new ones, so that the HTTP server
    /// can finish its graceful shutdown. Clients reconnect (to another node).
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// The node's live counters.
    pub async fn stats(&self) -> LiveStats {
        LiveStats {
            viewers: self.viewers.load(Ordering::SeqCst),
            tenants: self.hubs.lock().await.len(),
            dropped_too_slow: self.too_slow.load(Ordering::Relaxed),
        }
    }

    /// Takes a place in the limits and joins the tenant's hub (subscribing first if needed).
    async fn attach(
        &self,
        tenant: TenantId,
        resume: Option<u64>,
    ) -> Result<(Permit, hub::Joined), LiveError> {
        if *self.shutdown.borrow() {
            return Err(LiveError::ShuttingDown);
        }
        // The node's limit first, so that a refused request subscribes to nothing.
        let limit = self.options.max_streams_per_node;
        if self.viewers.fetch_add(1, Ordering::SeqCst) >= limit {
            self.viewers.fetch_sub(1, Ordering::SeqCst);
            return Err(LiveError::TooManyStreams { scope: LimitScope::Node, limit });
        }
        let node = NodePlace(self.viewers.clone());
        let mut hubs = self.hubs.lock().await;
        let hub = match hubs.get(&tenant) {
            Some(hub) => hub.clone(),
            None => {
                // Bounded: the map is locked meanwhile, and a bus that does not answer must
                // turn into a quick 503 for everyone, not a queue of stalled requests.
                let subscription = tokio::time::timeout(SUBSCRIBE_TIMEOUT, self.bus.subscribe(tenant))
                    .await
                    .map_err(|_| LiveBusError::unavailable("subscribing took too long"))??;
                let limits = HubLimits {
                    ring_events: self.options.replay_events,
                    ring_samples: self.options.replay_samples,
                    viewer_buffer: self.options.viewer_buffer,
                };
                let hub = Arc::new(Hub::new(tenant, subscription.last_id, limits));
                tokio::spawn(hub::run(
                    hub.clone(),
                    subscription.messages,
                    self.hubs.clone(),
                    self.options.idle_keep,
                    self.shutdown.subscribe(),
                ));
                hubs.insert(tenant, hub.clone());
                hub
            }
        };
        let limit = self.options.max_streams_per_tenant;
        if hub.viewers.load(Ordering::SeqCst) >= limit {
            return Err(LiveError::TooManyStreams { scope: LimitScope::Tenant, limit });
        }
        hub.attach();
        drop(hubs);
        let joined = hub.join(resume);
        Ok((Permit { hub, node }, joined))
    }
}

/// How long subscribing a tenant on the bus may take before the request gets a 503.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(5);
