//! The worker: from the ingest queue into the store, then the live bus, then acknowledge. A
//! batch is acknowledged only once it is stored, so a crash replays it, which is safe (same
//! series and millisecond replace; dedupe ids are skipped). Agent sightings are gathered in
//! memory and written to the registry once per [`PersistOptions::registry_flush`].

mod sightings;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use microdash_domain::{Sample, TenantId, Timestamp};
use tokio::sync::Notify;

use crate::error_chain::ErrorChain;
use crate::ports::{
    AgentRegistryRef, Delivery, IngestConsumerRef, Inserted, LiveBusRef, SampleStoreRef, StoreError,
};
use sightings::Sightings;

/// Tuning of the worker loop.
#[derive(Debug, Clone, Copy)]
pub struct PersistOptions {
    /// Samples taken from the queue per store round: big enough for multi-row inserts to pay,
    /// small enough to keep a sample's time to queryable in milliseconds.
    pub max_samples_per_round: usize,
    /// First wait after a failed write.
    pub retry_initial: Duration,
    /// Longest wait between retries.
    pub retry_max: Duration,
    /// How often gathered agent sightings are written to the registry: "last seen" to the
    /// second is what a fleet view needs, and one write per second replaces one per request.
    pub registry_flush: Duration,
}

impl Default for PersistOptions {
    fn default() -> Self {
        Self {
            max_samples_per_round: 20_000,
            retry_initial: Duration::from_millis(50),
            retry_max: Duration::from_secs(5),
            registry_flush: Duration::from_secs(1),
        }
    }
}

/// Moves batches from the queue into storage.
pub struct PersistService {
    consumer: IngestConsumerRef,
    store: SampleStoreRef,
    agents: AgentRegistryRef,
    live: LiveBusRef,
    options: PersistOptions,
    sightings: Sightings,
    /// Samples and batches stored since start, for the log.
    stored_samples: AtomicU64,
    stored_batches: AtomicU64,
}

impl PersistService {
    /// Builds the service.
    pub fn new(
        consumer: IngestConsumerRef,
        store: SampleStoreRef,
        agents: AgentRegistryRef,
        live: LiveBusRef,
        options: PersistOptions,
    ) -> Self {
        Self {
            consumer,
            store,
            agents,
            live,
            options,
            sightings: Sightings::default(),
            stored_samples: AtomicU64::new(0),
            stored_batches: AtomicU64::new(0),
        }
    }

    /// Runs until the queue is closed and drained, then writes the last agent sightings.
    /// Storage failures are retried with exponential backoff for as long as it takes:
    /// accepted data is never dropped.
    pub async fn run(&self) {
        let drained = Notify::new();
        let consume = async {
            self.consume().await;
            drained.notify_one();
        };
        let flush = async {
            loop {
                // Only the wait is raced against the end, never a registry write.
                tokio::select! {
                    () = tokio::time::sleep(self.options.registry_flush) => self.flush_sightings().await,
                    () = drained.notified() => return,
                }
            }
        };
        tokio::join!(consume, flush);
        self.flush_sightings().await;
        tracing::info!(
            samples = self.stored_samples.load(Ordering::Relaxed),
            batches = self.stored_batches.load(Ordering::Relaxed),
            "Worker stopped."
        );
    }

    /// Writes the agent sightings gathered since the last flush; on failure they are kept for
    /// the next one.
    pub async fn flush_sightings(&self) {
        for (tenant, seen) in self.sightings.take() {
            if let Err(error) = self.agents.record(tenant, &seen).await {
                tracing::warn!(error = %ErrorChain(&error), tenant = %tenant, agents = seen.len(), "Could not update the agent registry; will retry.");
                self.sightings.restore(tenant, seen);
            }
        }
    }

    async fn consume(&self) {
        let mut backoff = self.options.retry_initial;
        loop {
            match self.consumer.next(self.options.max_samples_per_round).await {
                Ok(Some(deliveries)) => {
                    self.persist(deliveries).await;
                    backoff = self.options.retry_initial;
                }
                Ok(None) => {
                    tracing::info!("Ingest queue closed and drained; worker stops.");
                    return;
                }
                Err(error) => {
                    tracing::warn!(error = %ErrorChain(&error), retry_in_ms = backoff.as_millis() as u64, "Cannot read the ingest queue; retrying.");
                    tokio::time::sleep(jitter(backoff)).await;
                    backoff = (backoff * 2).min(self.options.retry_max);
                }
            }
        }
    }

    /// Stores one round of deliveries and acknowledges them. A delivery the store refuses for
    /// good is found by storing the round's deliveries one by one, and set aside with
    /// [`IngestConsumer::reject`](crate::ports::IngestConsumer::reject) so it never blocks the
    /// others.
    #[tracing::instrument(name = "persist.round", skip_all, fields(batches = deliveries.len()))]
    pub async fn persist(&self, deliveries: Vec<Delivery>) {
        let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
        // Samples are moved, not cloned: this is the hot path of every accepted sample.
        let mut by_tenant: BTreeMap<TenantId, TenantRound> = BTreeMap::new();
        for d in deliveries {
            let round = by_tenant.entry(d.batch.tenant).or_insert_with(|| TenantRound {
                samples: Vec::new(),
                received_at: d.batch.received_at,
                parts: Vec::new(),
            });
            let at = round.samples.len();
            round.samples.extend(d.batch.samples);
            round.parts.push((d.id, at..round.samples.len()));
            round.received_at = round.received_at.max(d.batch.received_at);
        }
        let mut rejected: Vec<(String, String)> = Vec::new();
        for (tenant, round) in by_tenant {
            match self.insert_with_retry(tenant, &round.samples, &ids).await {
                Ok(inserted) => self.stored(tenant, round.samples, &inserted, round.received_at).await,
                Err(error) if round.parts.len() == 1 => {
                    rejected.extend(round.parts.into_iter().map(|(id, _)| (id, error.to_string())));
                }
                Err(error) => {
                    tracing::warn!(error = %ErrorChain(&error), tenant = %tenant, batches = round.parts.len(), "The store refused a round; storing its batches one by one to find the bad one.");
                    for (id, range) in round.parts {
                        let part = round.samples[range].to_vec();
                        match self.insert_with_retry(tenant, &part, &ids).await {
                            Ok(inserted) => self.stored(tenant, part, &inserted, round.received_at).await,
                            Err(error) => rejected.push((id, error.to_string())),
                        }
                    }
                }
            }
        }
        self.stored_batches.fetch_add((ids.len() - rejected.len()) as u64, Ordering::Relaxed);
        let acked: Vec<String> =
            ids.into_iter().filter(|id| !rejected.iter().any(|(r, _)| r == id)).collect();
        self.with_retry("acknowledge stored batches", || self.consumer.ack(&acked)).await;
        for (id, reason) in rejected {
            let reason = format!("the store refused the batch: {reason}");
            self.with_retry("set aside a refused batch", || self.consumer.reject(&id, &reason)).await;
        }
    }

    /// After a successful insert: remember the agents, publish to live viewers.
    async fn stored(
        &self,
        tenant: TenantId,
        samples: Vec<Sample>,
        inserted: &Inserted,
        received_at: Timestamp,
    ) {
        self.stored_samples.fetch_add(inserted.stored as u64, Ordering::Relaxed);
        let stored = without_duplicates(samples, &inserted.duplicates);
        if stored.is_empty() {
            return;
        }
        self.sightings.add(tenant, &stored, received_at);
        if let Err(error) = self.live.publish(tenant, Arc::new(stored)).await {
            tracing::warn!(error = %ErrorChain(&error), tenant = %tenant, "Could not publish stored samples to live viewers.");
        }
    }

    /// Retries a queue call with backoff until it succeeds: the queue coming back is the
    /// only way forward, and giving up would replay or lose the round.
    async fn with_retry<F, Fut>(&self, what: &str, mut call: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), crate::ports::QueueError>>,
    {
        let mut backoff = self.options.retry_initial;
        while let Err(error) = call().await {
            tracing::warn!(error = %ErrorChain(&error), what, retry_in_ms = backoff.as_millis() as u64, "Ingest queue call failed; retrying.");
            tokio::time::sleep(jitter(backoff)).await;
            backoff = (backoff * 2).min(self.options.retry_max);
        }
    }

    /// Inserts, retrying an unreachable store for as long as it takes (with exponential
    /// backoff and jitter, keeping the round's deliveries claimed meanwhile). Returns the
    /// error when the store refuses the batch for good, which a retry cannot fix.
    async fn insert_with_retry(
        &self,
        tenant: TenantId,
        samples: &[Sample],
        round: &[String],
    ) -> Result<Inserted, StoreError> {
        let mut backoff = self.options.retry_initial;
        let mut attempt = 1u32;
        loop {
            match self.store.insert_batch(tenant, samples).await {
                Ok(inserted) => {
                    if attempt > 1 {
                        tracing::info!(tenant = %tenant, samples = samples.len(), attempt, "Store reachable again; samples stored.");
                    }
                    return Ok(inserted);
                }
                Err(error @ StoreError::Unavailable { .. }) => {
                    tracing::warn!(
                        error = %ErrorChain(&error), tenant = %tenant, samples = samples.len(), attempt,
                        retry_in_ms = backoff.as_millis() as u64,
                        "Cannot store samples; retrying, nothing is dropped."
                    );
                    tokio::time::sleep(jitter(backoff)).await;
                    if let Err(error) = self.consumer.extend(round).await {
                        tracing::debug!(error = %ErrorChain(&error), "Could not extend the claim on the round's batches.");
                    }
                    backoff = (backoff * 2).min(self.options.retry_max);
                    attempt += 1;
                }
                Err(error) => {
                    tracing::error!(error = %ErrorChain(&error), tenant = %tenant, samples = samples.len(), "The store refused a batch.");
                    return Err(error);
                }
            }
        }
    }
}

/// One tenant's share of a round: its samples, and which delivery each range came from.
struct TenantRound {
    samples: Vec<Sample>,
    received_at: Timestamp,
    parts: Vec<(String, std::ops::Range<usize>)>,
}

/// `d` scaled by a random factor in [0.5, 1.0], so workers that failed together do not all
/// come back in the same instant.
fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::random_range(0.5..=1.0))
}

/// The samples minus those at the (ascending) `duplicates` positions.
fn without_duplicates(samples: Vec<Sample>, duplicates: &[usize]) -> Vec<Sample> {
    if duplicates.is_empty() {
        return samples;
    }
    let mut skip = duplicates.iter().copied().peekable();
    samples
        .into_iter()
        .enumerate()
        .filter(|(i, _)| {
            let dup = skip.peek() == Some(i);
            if dup {
                skip.next();
            }
            !dup
        })
        .map(|(_, s)| s)
        .collect()
}
