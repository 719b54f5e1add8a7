//! Ingest: a batch of samples from an authenticated client into the queue, or a precise reason
//! why not. The answer is only "accepted" once the queue has the batch.
//!
//! HTTP sends one JSON batch per request ([`IngestService::ingest`]). MQTT validates each
//! message alone ([`IngestService::parse_message`]) and queues many messages at once
//! ([`IngestService::ingest_samples`], [`IngestService::ingest_bridged`]); both paths share
//! the validation rules, the limits and the quota.

mod tenants;

use std::time::Duration;

use microdash_domain::mqtt::MetricsTopic;
use microdash_domain::wire::{self, ValidationContext, WireError};
use microdash_domain::{ItemError, Retention, Sample, Tenant, TenantId, Timestamp};

use crate::auth::Principal;
use crate::error_chain::ErrorChain;
use crate::ports::{Admission, BoxError, ClockRef, IngestBatch, IngestQueueRef, QueueError, RateLimiterRef};

pub use tenants::TenantDirectory;

/// Limits on one batch.
#[derive(Debug, Clone, Copy)]
pub struct IngestLimits {
    /// Most items in one batch.
    pub max_items: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self { max_items: 10_000 }
    }
}

/// What the client is told on success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestReceipt {
    /// Id of the accepted batch, for support and logs.
    pub request_id: String,
    /// Samples accepted.
    pub accepted: usize,
}

/// Why a payload does not parse into valid samples: the same rules for an HTTP body and an
/// MQTT message. Nothing of it was accepted.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, or not an object or array of objects.
    #[error("{0}")]
    Malformed(String),
    /// No items.
    #[error("the batch is empty")]
    Empty,
    /// Too many items.
    #[error("{count} items in one request; at most {max} are allowed")]
    TooManyItems {
        /// Items sent.
        count: usize,
        /// Items allowed.
        max: usize,
    },
    /// Some items are invalid.
    #[error("{} invalid field(s) in the batch; nothing was accepted", .0.len())]
    Invalid(Vec<ItemError>),
}

/// Why valid samples were not queued: the quota, or a queue or rate limiter that cannot take
/// them now. Nothing of them was accepted.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    /// The token's per-minute quota is used up.
    #[error("quota of {per_minute} samples per minute is used up")]
    QuotaExceeded {
        /// The quota.
        per_minute: u64,
        /// When enough quota is back.
        retry_after: Duration,
    },
    /// The batch alone is larger than the whole per-minute quota.
    #[error("{count} samples in one request exceed the quota of {per_minute} per minute; split the batch")]
    BatchOverQuota {
        /// Samples sent.
        count: usize,
        /// The quota.
        per_minute: u64,
    },
    /// The queue cannot take the batch now (full, shutting down, or unreachable), or the rate
    /// limiter cannot be reached.
    #[error("ingest is temporarily unavailable")]
    Unavailable {
        /// When to try again.
        retry_after: Duration,
        /// Why: the [`QueueError`] or [`RateLimitError`](crate::ports::RateLimitError), with
        /// the backend's error under it.
        #[source]
        source: BoxError,
    },
}

/// Why an HTTP batch was refused: it does not parse, or it was not admitted. Nothing of it
/// was accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body is not a valid batch.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The batch is valid but was not queued.
    #[error(transparent)]
    Admission(#[from] AdmissionError),
}

/// How long to ask clients to wait when the queue or the limiter is unreachable or closing.
const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Validates, rate-limits and enqueues batches.
pub struct IngestService {
    queue: IngestQueueRef,
    limiter: RateLimiterRef,
    clock: ClockRef,
    limits: IngestLimits,
}

impl IngestService {
    /// Builds the service.
    pub fn new(
        queue: IngestQueueRef,
        limiter: RateLimiterRef,
        clock: ClockRef,
        limits: IngestLimits,
    ) -> Self {
        Self { queue, limiter, clock, limits }
    }

    /// Ingests a JSON batch (one object or an array) for the caller's tenant.
    ///
    /// # Errors
    /// [`IngestError::Parse`] when the body is not a valid batch, [`IngestError::Admission`]
    /// when it was not queued; on any error nothing of the batch was accepted.
    #[tracing::instrument(name = "ingest", skip_all, fields(tenant = %who.tenant_slug, items))]
    pub async fn ingest(&self, who: &Principal, json: &[u8]) -> Result<IngestReceipt, IngestError> {
        let now = self.clock.now();
        let ctx = ValidationContext { now, max_age: who.retention.longest() };
        let samples = wire::parse_batch(json, &ctx, self.limits.max_items).map_err(ParseError::from)?;
        tracing::Span::current().record("items", samples.len());
        let receipt = self
            .admit_and_enqueue(&token_budget(who), who.samples_per_minute, who.tenant, now, samples)
            .await?;
        Ok(receipt)
    }

    /// Parses and validates one MQTT message of a tenant with `retention`, by the rules of
    /// [`IngestService::ingest`] (same limits, same receive-time stamping). Nothing is charged
    /// or queued yet: messages are validated one by one, so that a bad one is dropped alone,
    /// and queued together with [`IngestService::ingest_samples`].
    ///
    /// # Errors
    /// [`ParseError`], as for an HTTP request with this payload.
    pub fn parse_message(
        &self,
        retention: &Retention,
        topic: &MetricsTopic,
        payload: &[u8],
    ) -> Result<Vec<Sample>, ParseError> {
        let ctx = ValidationContext { now: self.clock.now(), max_age: retention.longest() };
        topic.parse_payload(payload, &ctx, self.limits.max_items).map_err(ParseError::from)
    }

    /// Charges the token's quota and enqueues samples from [`IngestService::parse_message`],
    /// typically coalesced from many messages of that token into one queue entry. The quota
    /// and the outcome are those of an HTTP request carrying the same samples.
    ///
    /// # Errors
    /// [`AdmissionError`]; on any error nothing was queued. [`AdmissionError::Unavailable`]
    /// keeps the queue's or the rate limiter's error as its source.
    #[tracing::instrument(name = "ingest.samples", skip_all, fields(tenant = %who.tenant_slug, items = samples.len()))]
    pub async fn ingest_samples(
        &self,
        who: &Principal,
        samples: Vec<Sample>,
    ) -> Result<IngestReceipt, AdmissionError> {
        let now = self.clock.now();
        self.admit_and_enqueue(&token_budget(who), who.samples_per_minute, who.tenant, now, samples).await
    }

    /// Like [`IngestService::ingest_samples`], for messages bridged from an external broker.
    /// That broker authenticated the device and enforced its topic ACL, so there is no token:
    /// the samples are charged to one bridge budget per tenant, as large as one token's quota.
    ///
    /// # Errors
    /// As [`IngestService::ingest_samples`].
    #[tracing::instrument(name = "ingest.bridged", skip_all, fields(tenant = %tenant.slug, items = samples.len()))]
    pub async fn ingest_bridged(
        &self,
        tenant: &Tenant,
        samples: Vec<Sample>,
    ) -> Result<IngestReceipt, AdmissionError> {
        let now = self.clock.now();
        let budget = format!("bridge:{}", tenant.id);
        self.admit_and_enqueue(&budget, tenant.samples_per_minute, tenant.id, now, samples).await
    }

    async fn admit_and_enqueue(
        &self,
        budget: &str,
        per_minute: u64,
        tenant: TenantId,
        received_at: Timestamp,
        samples: Vec<Sample>,
    ) -> Result<IngestReceipt, AdmissionError> {
        let count = samples.len();
        if count as u64 > per_minute {
            return Err(AdmissionError::BatchOverQuota { count, per_minute });
        }
        match self.limiter.acquire(budget, count as u64, per_minute).await {
            Ok(Admission::Granted) => {}
            Ok(Admission::Denied { retry_after }) => {
                return Err(AdmissionError::QuotaExceeded { per_minute, retry_after });
            }
            Err(e) => {
                return Err(AdmissionError::Unavailable {
                    retry_after: UNAVAILABLE_RETRY_AFTER,
                    source: Box::new(e),
                });
            }
        }
        let request_id = uuid::Uuid::now_v7().to_string();
        let batch = IngestBatch { request_id: request_id.clone(), tenant, received_at, samples };
        if let Err(e) = self.queue.enqueue(batch).await {
            // Nothing was accepted, so nothing is charged: the client is told to retry.
            if let Err(refund) = self.limiter.refund(budget, count as u64, per_minute).await {
                tracing::warn!(budget, error = %ErrorChain(&refund), "Could not refund the quota of a refused batch.");
            }
            return Err(Self::unavailable(e));
        }
        Ok(IngestReceipt { request_id, accepted: count })
    }

    fn unavailable(e: QueueError) -> AdmissionError {
        let retry_after = match e {
            QueueError::Full { retry_after } => retry_after,
            QueueError::Closed | QueueError::Unavailable(_) => UNAVAILABLE_RETRY_AFTER,
        };
        AdmissionError::Unavailable { retry_after, source: Box::new(e) }
    }
}

/// The rate-limiter key of a token: HTTP and the MQTT endpoint share it, so a token has one
/// quota however it sends.
fn token_budget(who: &Principal) -> String {
    format!("token:{}", who.token_id)
}

impl From<WireError> for ParseError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Malformed(m) => ParseError::Malformed(m),
            WireError::Empty => ParseError::Empty,
            WireError::TooManyItems { count, max } => ParseError::TooManyItems { count, max },
            WireError::Invalid(errors) => ParseError::Invalid(errors),
        }
    }
}

#[cfg(test)]
mod tests;
