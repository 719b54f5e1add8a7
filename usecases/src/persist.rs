//! The worker: from the ingest queue into the store, then the live bus, then acknowledge. A
//! batch is acknowledged only once it is stored, so a crash replays it, which is safe (same
//! series and millisecond replace; dedupe ids are skipped). Agent sightings are gathered in
//! memory and written to the registry once per [`PersistOptions::registry_flush`].

mod sightings;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use microdash_domain::{Sample, TenantId, Timestamp};
use tokio::sync::Notify;

use crate::ports::{AgentRegistryRef, Delivery, IngestConsumerRef, LiveBusRef, SampleStoreRef, StoreError};
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
        Self { consumer, store, agents, live, options, sightings: Sightings::default() }
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
    }

    /// Writes the agent sightings gathered since the last flush; on failure they are kept for
    /// the next one.
    pub async fn flush_sightings(&self) {
        for (tenant, seen) in self.sightings.take() {
            if let Err(error) = self.agents.record(tenant, &seen).await {
                tracing::warn!(error = %error, tenant = %tenant, agents = seen.len(), "Could not update the agent registry; will retry.");
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
                    tracing::warn!(error = %error, retry_in_ms = backoff.as_millis() as u64, "Cannot read the ingest queue; retrying.");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.options.retry_max);
                }
            }
        }
    }

    /// Stores one round of deliveries and acknowledges them.
    #[tracing::instrument(name = "persist.round", skip_all, fields(batches = deliveries.len()))]
    pub async fn persist(&self, deliveries: Vec<Delivery>) {
        let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
        // Samples are moved, not cloned: this is the hot path of every accepted sample.
        let mut by_tenant: BTreeMap<TenantId, (Vec<Sample>, Timestamp)> = BTreeMap::new();
        for d in deliveries {
            let entry = by_tenant.entry(d.batch.tenant).or_insert_with(|| (Vec::new(), d.batch.received_at));
            entry.0.extend(d.batch.samples);
            entry.1 = entry.1.max(d.batch.received_at);
        }
        for (tenant, (samples, received_at)) in by_tenant {
            let Some(inserted) = self.insert_with_retry(tenant, &samples).await else {
                continue;
            };
            let stored = without_duplicates(samples, &inserted.duplicates);
            if stored.is_empty() {
                continue;
            }
            self.sightings.add(tenant, &stored, received_at);
            if let Err(error) = self.live.publish(tenant, Arc::new(stored)).await {
                tracing::warn!(error = %error, tenant = %tenant, "Could not publish stored samples to live viewers.");
            }
        }
        let mut backoff = self.options.retry_initial;
        while let Err(error) = self.consumer.ack(&ids).await {
            tracing::warn!(error = %error, "Cannot acknowledge stored batches; retrying.");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.options.retry_max);
        }
    }

    /// Inserts, retrying an unreachable store for as long as it takes. `None` when the store
    /// refuses the batch for good (which a retry cannot fix): logged at ERROR, since those
    /// samples are lost (the production queue dead-letters them instead).
    async fn insert_with_retry(
        &self,
        tenant: TenantId,
        samples: &[Sample],
    ) -> Option<crate::ports::Inserted> {
        let mut backoff = self.options.retry_initial;
        let mut attempt = 1u32;
        loop {
            match self.store.insert_batch(tenant, samples).await {
                Ok(inserted) => return Some(inserted),
                Err(error @ StoreError::Unavailable { .. }) => {
                    tracing::warn!(
                        error = %error, tenant = %tenant, samples = samples.len(), attempt,
                        retry_in_ms = backoff.as_millis() as u64,
                        "Cannot store samples; retrying, nothing is dropped."
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.options.retry_max);
                    attempt += 1;
                }
                Err(error) => {
                    tracing::error!(error = %error, tenant = %tenant, samples = samples.len(), "The store refused a batch; its samples are lost.");
                    return None;
                }
            }
        }
    }
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
