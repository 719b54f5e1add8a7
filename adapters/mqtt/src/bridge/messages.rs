//! The bridge's message loop: each publish from the broker becomes samples of the tenant its
//! topic names, goes to the coalescer, and is acknowledged to the broker, in order, once its
//! batch is queued (or at once when it is dropped: resending cannot fix it).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesOrdered;
use microdash_domain::mqtt::TopicError;
use microdash_domain::{MetricsTopic, Sample};
use microdash_usecases::ingest::TenantDirectory;
use microdash_usecases::ports::StoreError;
use microdash_usecases::{ErrorChain, IngestService};
use rumqttc::{AsyncClient, Publish};
use tokio::sync::{Notify, mpsc};

use crate::coalescer::{Coalescer, Outcome, Sender};
use crate::drop_reason::DropReason;
use crate::telemetry::{MessageDropped, MqttMetricsRef};

type Pending = Pin<Box<dyn Future<Output = (Publish, Outcome)> + Send>>;

pub(super) struct Worker {
    pub client: AsyncClient,
    pub ingest: Arc<IngestService>,
    pub tenants: Arc<TenantDirectory>,
    pub coalescer: Coalescer,
    pub metrics: MqttMetricsRef,
    /// Asks the event loop to reconnect, so the broker resends what was not acknowledged.
    pub reconnect: Arc<Notify>,
}

/// Why a message did not become samples.
enum Refused {
    /// Bad for good: acknowledge, count, log.
    Dropped(DropReason, String),
    /// The tenant store failed: do not acknowledge; the broker resends after a reconnect.
    Retry(StoreError),
}

impl Worker {
    /// Takes messages until `shutdown`, with at most `max_inflight` unsettled; then settles
    /// what is in flight for at most `grace`.
    pub(super) async fn run(
        &self,
        mut rx: mpsc::Receiver<Publish>,
        max_inflight: usize,
        shutdown: impl Future<Output = ()>,
        grace: Duration,
    ) {
        let mut answers: FuturesOrdered<Pending> = FuturesOrdered::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some((publish, outcome)) = answers.next(), if !answers.is_empty() => self.settle(&publish, outcome).await,
                received = rx.recv(), if answers.len() < max_inflight => match received {
                    Some(publish) => answers.push_back(self.take(publish).await),
                    None => break,
                },
            }
        }
        self.coalescer.close();
        let settle_all = async {
            while let Some((publish, outcome)) = answers.next().await {
                self.settle(&publish, outcome).await;
            }
        };
        let _ = tokio::time::timeout(grace, settle_all).await;
    }

    async fn take(&self, publish: Publish) -> Pending {
        self.metrics.message_received();
        match self.samples(&publish).await {
            Ok((sender, samples)) => {
                let done = self.coalescer.submit(&sender, samples);
                Box::pin(async move { (publish, done.await) })
            }
            Err(Refused::Dropped(reason, error)) => {
                let tenant = MetricsTopic::tenant_level(&publish.topic).unwrap_or("");
                let error: &dyn std::fmt::Display = &error;
                MessageDropped { reason, client_id: "", tenant, topic: &publish.topic, error }
                    .emit(&self.metrics);
                Box::pin(std::future::ready((publish, Outcome::Queued)))
            }
            Err(Refused::Retry(error)) => {
                tracing::error!(error = %ErrorChain(&error), topic = %publish.topic, "MQTT bridge cannot look up the tenant; the message will be redelivered.");
                Box::pin(std::future::ready((publish, Outcome::Failed)))
            }
        }
    }

    async fn samples(&self, publish: &Publish) -> Result<(Arc<Sender>, Vec<Sample>), Refused> {
        let topic = MetricsTopic::parse(&publish.topic).map_err(|e| {
            let reason =
                if e == TopicError::Foreign { DropReason::ForeignTopic } else { DropReason::BadTopic };
            Refused::Dropped(reason, e.to_string())
        })?;
        let tenant = match self.tenants.find(&topic.tenant).await {
            Ok(Some(tenant)) => tenant,
            Ok(None) => {
                return Err(Refused::Dropped(
                    DropReason::UnknownTenant,
                    format!("no tenant '{}'", topic.tenant),
                ));
            }
            Err(error) => return Err(Refused::Retry(error)),
        };
        let samples = self
            .ingest
            .parse_message(&tenant.retention, &topic, &publish.payload)
            .map_err(|e| Refused::Dropped(DropReason::of(&e), e.to_string()))?;
        if samples.len() as u64 > tenant.samples_per_minute {
            let why = format!(
                "{} samples exceed the whole quota of {} per minute",
                samples.len(),
                tenant.samples_per_minute
            );
            return Err(Refused::Dropped(DropReason::OverQuota, why));
        }
        Ok((Arc::new(Sender::Tenant(tenant)), samples))
    }

    async fn settle(&self, publish: &Publish, outcome: Outcome) {
        match outcome {
            Outcome::Queued => {
                // Fails only when the event loop is gone, i.e. during shutdown; the broker
                // then resends the message to the session later.
                let _ = self.client.ack(publish).await;
            }
            Outcome::Failed => self.reconnect.notify_one(),
        }
    }
}
