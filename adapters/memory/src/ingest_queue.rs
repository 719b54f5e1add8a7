//! The embedded default's ingest queue: a bounded FIFO in memory between the API and the
//! worker. Bounded by samples, counting those handed out but not yet acknowledged, so memory
//! stays flat however fast clients push: past the bound, producers get "full" and clients a
//! 503 with `Retry-After`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use microdash_usecases::ports::{
    Delivery, HealthCheck, HealthError, IngestBatch, IngestConsumer, IngestQueue, QueueError,
};
use tokio::sync::Notify;

/// What a producer is told to wait when the queue stays full: the worker frees room in
/// milliseconds, so a second is plenty without making clients idle for long.
const FULL_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How long `enqueue` holds a batch waiting for room before answering "full". A short hold
/// turns a burst into back-pressure (a slower reply) instead of a 503 that idles the client
/// for a whole `Retry-After` second, while a stuck writer still surfaces quickly.
const FULL_WAIT: Duration = Duration::from_millis(250);

#[derive(Default)]
struct Inner {
    queue: VecDeque<(u64, IngestBatch)>,
    /// Samples per delivery handed out and not yet acknowledged.
    in_flight: HashMap<u64, usize>,
    /// Samples queued plus in flight: what the bound applies to.
    held_samples: usize,
    next_id: u64,
    closed: bool,
}

/// Bounded in-memory FIFO of batches.
pub struct MemoryIngestQueue {
    capacity: usize,
    inner: Mutex<Inner>,
    /// Wakes consumers: a batch was queued, or the queue closed.
    ready: Notify,
    /// Wakes producers waiting for room: samples were acknowledged.
    space: Notify,
}

impl MemoryIngestQueue {
    /// A queue holding at most about `capacity_samples` samples (a single batch larger than
    /// that is still accepted into an empty queue, so no batch is refused forever).
    pub fn new(capacity_samples: usize) -> Self {
        Self {
            capacity: capacity_samples,
            inner: Mutex::new(Inner::default()),
            ready: Notify::new(),
            space: Notify::new(),
        }
    }

    /// Stops accepting batches; consumers drain what is queued and then get `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_waiters();
        self.ready.notify_one();
        self.space.notify_waiters();
    }

    /// Samples queued or in flight, and those a [`Reservation`] holds room for.
    pub fn depth(&self) -> usize {
        self.lock().held_samples
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("ingest queue mutex poisoned")
    }
}

/// Room for a number of samples, taken in the queue's bound before a batch is queued, so that a
/// durable queue can write the batch to disk between making sure it fits and queueing it.
/// Dropped unused, it gives the room back.
#[must_use = "dropping a reservation gives its room back"]
pub struct Reservation {
    queue: Arc<MemoryIngestQueue>,
    samples: usize,
}

impl Reservation {
    /// Queues `batch`, the batch the room was taken for, and returns the id its delivery will
    /// carry.
    pub fn push(mut self, batch: IngestBatch) -> u64 {
        debug_assert_eq!(self.samples, batch.samples.len(), "room was taken for this batch");
        self.samples = 0;
        self.queue.push_counted(batch)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.samples > 0 {
            self.queue.release(self.samples);
        }
    }
}

impl MemoryIngestQueue {
    /// Takes room for `samples` samples, waiting briefly for it as [`IngestQueue::enqueue`]
    /// does.
    ///
    /// # Errors
    /// [`QueueError::Full`] when no room came free in time; [`QueueError::Closed`] during
    /// shutdown.
    pub async fn reserve(self: &Arc<Self>, samples: usize) -> Result<Reservation, QueueError> {
        self.wait_for_room(samples).await?;
        Ok(Reservation { queue: self.clone(), samples })
    }

    /// Counts `samples` against the bound, waiting up to [`FULL_WAIT`] for room.
    async fn wait_for_room(&self, samples: usize) -> Result<(), QueueError> {
        let deadline = tokio::time::Instant::now() + FULL_WAIT;
        loop {
            // Register for "room freed" before looking, so an ack in between is not missed.
            let room = self.space.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if self.try_reserve(samples)? {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, room).await.is_err() {
                return Err(QueueError::Full { retry_after: FULL_RETRY_AFTER });
            }
        }
    }

    /// Queues a batch whatever the bound: for batches accepted before a restart, which must
    /// all be stored.
    pub fn push_replayed(&self, batch: IngestBatch) -> u64 {
        self.lock().held_samples += batch.samples.len();
        self.push_counted(batch)
    }

    /// Counts `samples` against the bound if they fit (a batch always fits an empty queue, so
    /// no batch is refused forever).
    fn try_reserve(&self, samples: usize) -> Result<bool, QueueError> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(QueueError::Closed);
        }
        if inner.held_samples > 0 && inner.held_samples + samples > self.capacity {
            return Ok(false);
        }
        inner.held_samples += samples;
        Ok(true)
    }

    /// Queues a batch whose samples are already counted against the bound.
    fn push_counted(&self, batch: IngestBatch) -> u64 {
        let id = {
            let mut inner = self.lock();
            let id = inner.next_id;
            inner.next_id += 1;
            inner.queue.push_back((id, batch));
            id
        };
        self.ready.notify_one();
        id
    }

    /// Gives back room counted for samples that will not be queued.
    fn release(&self, samples: usize) {
        self.lock().held_samples -= samples;
        self.space.notify_waiters();
    }
}

#[async_trait]
impl IngestQueue for MemoryIngestQueue {
    async fn enqueue(&self, batch: IngestBatch) -> Result<(), QueueError> {
        self.wait_for_room(batch.samples.len()).await?;
        self.push_counted(batch);
        Ok(())
    }
}

#[async_trait]
impl IngestConsumer for MemoryIngestQueue {
    async fn next(&self, max_samples: usize) -> Result<Option<Vec<Delivery>>, QueueError> {
        loop {
            {
                let mut inner = self.lock();
                if !inner.queue.is_empty() {
                    let mut out = Vec::new();
                    let mut taken = 0;
                    while let Some((_, front)) = inner.queue.front() {
                        if !out.is_empty() && taken + front.samples.len() > max_samples {
                            break;
                        }
                        let (id, batch) = inner.queue.pop_front().expect("front exists");
                        taken += batch.samples.len();
                        inner.in_flight.insert(id, batch.samples.len());
                        out.push(Delivery { id: id.to_string(), batch });
                    }
                    let more = !inner.queue.is_empty();
                    drop(inner);
                    if more {
                        // Let another consumer (if any) take the rest meanwhile.
                        self.ready.notify_one();
                    }
                    return Ok(Some(out));
                }
                if inner.closed {
                    drop(inner);
                    self.ready.notify_one(); // wake the next consumer so it sees the end too
                    return Ok(None);
                }
            }
            self.ready.notified().await;
        }
    }

    async fn ack(&self, ids: &[String]) -> Result<(), QueueError> {
        let mut inner = self.lock();
        for id in ids {
            let n = id.parse::<u64>().ok().and_then(|id| inner.in_flight.remove(&id)).unwrap_or(0);
            inner.held_samples -= n;
        }
        drop(inner);
        self.space.notify_waiters();
        Ok(())
    }

    async fn reject(&self, id: &str, reason: &str) -> Result<(), QueueError> {
        // No dead-letter stream in one process: say loudly what is lost, then free its room.
        let samples = id.parse::<u64>().ok().and_then(|n| self.lock().in_flight.get(&n).copied());
        tracing::error!(
            entry = id,
            samples,
            reason,
            "The store refused an ingest batch for good; its samples are dropped."
        );
        self.ack(&[id.to_string()]).await
    }

    async fn extend(&self, _ids: &[String]) -> Result<(), QueueError> {
        // Nothing here hands a delivery to another consumer, so there is no lease to extend.
        Ok(())
    }
}

#[async_trait]
impl HealthCheck for MemoryIngestQueue {
    fn component(&self) -> &'static str {
        "queue"
    }

    async fn check(&self) -> Result<(), HealthError> {
        if self.lock().closed {
            Err(HealthError::new("the ingest queue is closed (shutting down)"))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use microdash_domain::sample::SeriesKey;
    use microdash_domain::{MetricName, Sample, Tags, TenantId, Timestamp};

    use super::*;

    fn batch(n: usize) -> IngestBatch {
        let series = SeriesKey { metric: MetricName::new("m").unwrap(), agent: None, tags: Tags::empty() };
        let s = Sample { series, value: 1.0, timestamp: Timestamp::from_millis(0), dedupe_id: None };
        IngestBatch {
            request_id: "r".into(),
            tenant: TenantId::new(1),
            received_at: Timestamp::from_millis(0),
            samples: vec![s; n],
        }
    }

    #[tokio::test]
    async fn unacknowledged_samples_count_against_the_bound() {
        let q = MemoryIngestQueue::new(10);
        q.enqueue(batch(6)).await.unwrap();
        let d = q.next(100).await.unwrap().unwrap();
        assert!(
            matches!(q.enqueue(batch(6)).await, Err(QueueError::Full { .. })),
            "in-flight samples still count"
        );
        q.ack(&[d[0].id.clone()]).await.unwrap();
        q.enqueue(batch(6)).await.unwrap();
        assert_eq!(q.depth(), 6);
    }

    #[tokio::test]
    async fn a_producer_waits_briefly_for_room_instead_of_failing_at_once() {
        let q = std::sync::Arc::new(MemoryIngestQueue::new(10));
        q.enqueue(batch(6)).await.unwrap();
        let d = q.next(100).await.unwrap().unwrap();
        let producer = tokio::spawn({
            let q = q.clone();
            async move { q.enqueue(batch(6)).await }
        });
        tokio::task::yield_now().await;
        q.ack(&[d[0].id.clone()]).await.unwrap();
        let waited = tokio::time::timeout(Duration::from_secs(5), producer).await.unwrap().unwrap();
        assert!(waited.is_ok(), "room freed within the hold, so the batch is queued: {waited:?}");
    }

    #[tokio::test]
    async fn a_reservation_dropped_unused_gives_its_room_back() {
        let q = std::sync::Arc::new(MemoryIngestQueue::new(10));
        q.enqueue(batch(2)).await.unwrap();
        let room = q.reserve(8).await.unwrap();
        assert_eq!(q.depth(), 10, "reserved room counts against the bound");
        assert!(matches!(q.enqueue(batch(2)).await, Err(QueueError::Full { .. })));
        drop(room); // the journal could not write the batch
        assert_eq!(q.depth(), 2);
        q.reserve(8).await.unwrap().push(batch(8));
        assert_eq!(q.depth(), 10);
        assert_eq!(q.next(100).await.unwrap().unwrap().len(), 2, "both batches queued");
    }

    #[tokio::test]
    async fn a_batch_larger_than_the_bound_is_accepted_into_an_empty_queue() {
        let q = MemoryIngestQueue::new(10);
        q.enqueue(batch(50)).await.unwrap();
    }

    #[tokio::test]
    async fn next_takes_several_batches_up_to_the_sample_budget() {
        let q = MemoryIngestQueue::new(1000);
        for _ in 0..5 {
            q.enqueue(batch(10)).await.unwrap();
        }
        assert_eq!(q.next(25).await.unwrap().unwrap().len(), 2);
        assert_eq!(q.next(1000).await.unwrap().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn closing_drains_what_is_queued_then_ends() {
        let q = MemoryIngestQueue::new(1000);
        q.enqueue(batch(1)).await.unwrap();
        q.close();
        assert!(matches!(q.enqueue(batch(1)).await, Err(QueueError::Closed)));
        assert_eq!(q.next(10).await.unwrap().unwrap().len(), 1);
        assert!(q.next(10).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_waiting_consumer_wakes_when_a_batch_arrives() {
        let q = std::sync::Arc::new(MemoryIngestQueue::new(1000));
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.next(10).await.unwrap().unwrap().len() }
        });
        tokio::task::yield_now().await;
        q.enqueue(batch(1)).await.unwrap();
        assert_eq!(tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap(), 1);
    }
}
