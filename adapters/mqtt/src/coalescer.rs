//! Coalescing: the messages of one sender (a token on the endpoint, a tenant on the bridge)
//! are gathered for a few milliseconds into one batch, so that a thousand one-sample messages
//! cost one quota check and one queue entry instead of a thousand. Each message gets a
//! [`Done`] that resolves once its batch is in the queue (time to acknowledge it) or was
//! given up (never acknowledge it: the client must resend).
//!
//! A batch refused for quota or because the queue is full is held and retried, so the quota
//! slows a sender down instead of losing its data; connections stop reading once their
//! in-flight window is full, which is the back-pressure a device feels.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::Shared;
use microdash_domain::{Sample, Tenant};
use microdash_usecases::{AdmissionError, ErrorChain, IngestService, Principal};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::options::CoalesceOptions;
use crate::telemetry::{BatchFailed, MqttMetricsRef};

/// Longest single wait before retrying a batch refused for quota, so that quota freed early
/// (raised by an admin) is noticed soon.
const MAX_QUOTA_WAIT: Duration = Duration::from_secs(1);

/// Longest wait before retrying a batch the queue could not take: the queue's own
/// `retry_after` is meant for HTTP clients, while room in it frees within milliseconds.
const MAX_UNAVAILABLE_WAIT: Duration = Duration::from_millis(100);

/// Who pays for a batch.
#[derive(Debug)]
pub(crate) enum Sender {
    /// A device authenticated with a token: the token's quota, shared with HTTP.
    Token(Principal),
    /// Bridged messages of a tenant: the tenant's bridge budget.
    Tenant(Tenant),
}

impl Sender {
    fn key(&self) -> (bool, i64) {
        match self {
            Sender::Token(p) => (true, p.token_id.get()),
            Sender::Tenant(t) => (false, t.id.get()),
        }
    }

    /// The per-minute budget: no batch may be larger.
    pub(crate) fn per_minute(&self) -> u64 {
        match self {
            Sender::Token(p) => p.samples_per_minute,
            Sender::Tenant(t) => t.samples_per_minute,
        }
    }

    fn tenant(&self) -> &str {
        match self {
            Sender::Token(p) => p.tenant_slug.as_str(),
            Sender::Tenant(t) => t.slug.as_str(),
        }
    }
}

/// How a message's batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// In the queue: acknowledge.
    Queued,
    /// Given up: do not acknowledge.
    Failed,
}

/// Resolves when the message's batch is queued or given up.
pub(crate) type Done = Shared<
    futures::future::Map<
        oneshot::Receiver<Outcome>,
        fn(Result<Outcome, oneshot::error::RecvError>) -> Outcome,
    >,
>;

struct Pending {
    sender: Arc<Sender>,
    samples: Vec<Sample>,
    messages: usize,
    generation: u64,
    tx: oneshot::Sender<Outcome>,
    done: Done,
}

struct Inner {
    ingest: Arc<IngestService>,
    options: CoalesceOptions,
    metrics: MqttMetricsRef,
    /// A std mutex: held only to move samples around, never across an await.
    pending: Mutex<HashMap<(bool, i64), Pending>>,
    generations: AtomicU64,
    /// Every linger timer and delivery, so shutdown can wait for them.
    tasks: TaskTracker,
    /// Set on shutdown: stop lingering, send every batch at once. Wakes the linger timers.
    closing: CancellationToken,
    /// The same, read on every message without the token's lock.
    closed: AtomicBool,
}

/// Batches messages per sender; cheap to clone.
#[derive(Clone)]
pub(crate) struct Coalescer {
    inner: Arc<Inner>,
}

impl Coalescer {
    pub(crate) fn new(ingest: Arc<IngestService>, options: CoalesceOptions, metrics: MqttMetricsRef) -> Self {
        Self {
            inner: Arc::new(Inner {
                ingest,
                options,
                metrics,
                pending: Mutex::new(HashMap::new()),
                generations: AtomicU64::new(0),
                tasks: TaskTracker::new(),
                closing: CancellationToken::new(),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Adds one message's samples (validated, at most the sender's per-minute budget) to the
    /// sender's batch.
    pub(crate) fn submit(&self, sender: &Arc<Sender>, samples: Vec<Sample>) -> Done {
        let inner = &self.inner;
        let key = sender.key();
        let cap = (inner.options.max_samples as u64).min(sender.per_minute()).max(1) as usize;
        let mut pending = inner.pending.lock().expect("coalescer mutex poisoned");
        if pending.get(&key).is_some_and(|p| p.samples.len() + samples.len() > cap)
            && let Some(full) = pending.remove(&key)
        {
            inner.deliver(full);
        }
        let batch = pending.entry(key).or_insert_with(|| inner.start(key, sender.clone()));
        batch.samples.extend(samples);
        batch.messages += 1;
        let done = batch.done.clone();
        if (batch.messages >= inner.options.max_messages
            || batch.samples.len() >= cap
            || inner.closed.load(Relaxed))
            && let Some(full) = pending.remove(&key)
        {
            inner.deliver(full);
        }
        done
    }

    /// Stops lingering: batches waiting now are sent at once, later ones immediately.
    pub(crate) fn close(&self) {
        self.inner.closed.store(true, Relaxed);
        self.inner.closing.cancel();
        self.inner.tasks.close();
    }

    /// Waits until every batch handed over so far has been queued or given up.
    pub(crate) async fn drained(&self) {
        self.inner.tasks.wait().await;
    }
}

impl Inner {
    /// A new empty batch, with the timer that sends it after the linger.
    fn start(self: &Arc<Self>, key: (bool, i64), sender: Arc<Sender>) -> Pending {
        let generation = self.generations.fetch_add(1, Relaxed);
        let (tx, rx) = oneshot::channel();
        let gave_up: fn(Result<Outcome, oneshot::error::RecvError>) -> Outcome =
            |r| r.unwrap_or(Outcome::Failed);
        let done = rx.map(gave_up).shared();
        let this = self.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(this.options.linger) => {}
                () = this.closing.cancelled() => {}
            }
            let due = {
                let mut pending = this.pending.lock().expect("coalescer mutex poisoned");
                match pending.get(&key) {
                    Some(p) if p.generation == generation => pending.remove(&key),
                    _ => None,
                }
            };
            if let Some(batch) = due {
                // Queued from this task: one scheduling hop less between linger and PUBACK.
                this.queue(batch).await;
            }
        });
        Pending { sender, samples: Vec::new(), messages: 0, generation, tx, done }
    }

    fn deliver(self: &Arc<Self>, batch: Pending) {
        let this = self.clone();
        self.tasks.spawn(async move { this.queue(batch).await });
    }

    /// Queues a batch, retrying while it is refused for quota or a full queue, up to
    /// `max_hold`; then tells every waiting message how it ended.
    async fn queue(&self, batch: Pending) {
        let Pending { sender, samples, messages, tx, .. } = batch;
        let started = Instant::now();
        let count = samples.len();
        let outcome = loop {
            // A refused attempt consumes its samples, so each attempt gets a copy.
            let attempt = samples.clone();
            let attempt = async {
                match &*sender {
                    Sender::Token(who) => self.ingest.ingest_samples(who, attempt).await,
                    Sender::Tenant(tenant) => self.ingest.ingest_bridged(tenant, attempt).await,
                }
            };
            // A queue that hangs must not hold messages past `max_hold` either. Whether a batch
            // cut off mid-enqueue was queued is unknown: it is not acknowledged, and a resend
            // is stored once when it has dedupe ids.
            let left = self.options.max_hold.saturating_sub(started.elapsed());
            let error = match tokio::time::timeout(left, attempt).await {
                Ok(Ok(_)) => {
                    self.metrics.batch_queued(messages, count);
                    break Outcome::Queued;
                }
                Ok(Err(e)) => e,
                Err(_) => {
                    let error =
                        format!("the queue did not take the batch within {:?}", self.options.max_hold);
                    BatchFailed { tenant: sender.tenant(), messages, error: &error }.emit(&self.metrics);
                    break Outcome::Failed;
                }
            };
            let wait = match &error {
                AdmissionError::QuotaExceeded { retry_after, .. } => (*retry_after).min(MAX_QUOTA_WAIT),
                AdmissionError::Unavailable { retry_after, .. } => (*retry_after).min(MAX_UNAVAILABLE_WAIT),
                AdmissionError::BatchOverQuota { .. } => Duration::MAX,
            };
            if started.elapsed().saturating_add(wait) > self.options.max_hold {
                let error = ErrorChain(&error);
                BatchFailed { tenant: sender.tenant(), messages, error: &error }.emit(&self.metrics);
                break Outcome::Failed;
            }
            tokio::time::sleep(wait).await;
        };
        let _ = tx.send(outcome);
    }
}
