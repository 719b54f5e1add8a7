//! The embedded default's durable ingest queue: the in-process queue of
//! `microdash-adapter-memory`, with every batch appended to a journal on disk before it is
//! queued, so that a 202 means "on disk" and a crash (even `kill -9`) loses nothing
//! acknowledged. At start the journal's batches are queued again and stored; a segment of the
//! journal is deleted once every batch in it is stored.
//!
//! Not for deployments with several processes: the journal is one process's (the Redis
//! queue serves those).
//!
//! # Layout
//! - this file: [`JournalIngestQueue`], its [`JournalOptions`], opening and replaying.
//! - `segment`: the file format (records with a length and a CRC-32C, torn tails detected).
//! - `writer`: the appending thread, with group commit.
//! - `ledger`: which segment holds which queued batch, for deleting segments.

mod ledger;
mod segment;
mod writer;

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use microdash_adapter_memory::MemoryIngestQueue;
use microdash_usecases::ports::{
    Delivery, HealthCheck, HealthError, IngestBatch, IngestConsumer, IngestQueue, QueueError,
};
use tokio::sync::oneshot;

use ledger::Ledger;
use segment::RecordId;
use writer::{Append, Appender, Job};

/// Where the journal lives and how large it grows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalOptions {
    /// The journal's directory, created (readable by the service user only) when missing.
    pub dir: PathBuf,
    /// Samples queued or being stored at most, as for the in-memory queue.
    pub capacity_samples: usize,
    /// Bytes after which appends go to a new segment file, so stored batches' space is given
    /// back a segment at a time.
    pub segment_bytes: u64,
}

/// Why the journal could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the ingest journal in '{}': {what}", dir.display())]
pub struct OpenError {
    dir: PathBuf,
    what: &'static str,
    #[source]
    source: io::Error,
}

/// Why the journal could not take a batch: the cause of a [`QueueError::Unavailable`] (a 503).
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Writing or syncing failed (a full disk, an I/O error); nothing of the batch is kept.
    #[error("writing the ingest journal in '{}'", dir.display())]
    Write {
        /// The journal's directory.
        dir: PathBuf,
        /// The file system's error.
        #[source]
        source: Arc<io::Error>,
    },
    /// The appending thread is gone (it panicked); see the log.
    #[error("the ingest journal's writer has stopped")]
    Stopped,
}

/// What opening found in the journal from the last run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Batches queued again, to be stored.
    pub batches: usize,
    /// Their samples.
    pub samples: usize,
    /// Bytes of damaged records skipped (a torn tail from a crash in mid-append).
    pub damaged_bytes: u64,
}

/// The in-process queue behind a journal: see the crate documentation.
pub struct JournalIngestQueue {
    memory: Arc<MemoryIngestQueue>,
    ledger: Arc<Mutex<Ledger>>,
    appender: Appender,
    /// The appending thread, joined on drop so that what was sent is on disk when the queue
    /// is gone (a restart in the same process, in tests, reads all of it).
    thread: Option<std::thread::JoinHandle<()>>,
    dir: PathBuf,
}

impl JournalIngestQueue {
    /// Opens the journal in `options.dir`, queues the batches it holds from the last run, and
    /// starts a new segment for this one.
    ///
    /// # Errors
    /// [`OpenError`] when the directory or a segment cannot be read or created, or holds a
    /// file named like a segment that is not one.
    pub fn open(options: &JournalOptions) -> Result<(Self, Replayed), OpenError> {
        let dir = options.dir.clone();
        let fail = |what, source| OpenError { dir: dir.clone(), what, source };
        create_private_dir(&dir).map_err(|e| fail("creating the directory", e))?;
        let memory = Arc::new(MemoryIngestQueue::new(options.capacity_samples));
        let mut ledger = Ledger::default();
        let mut replayed = Replayed::default();
        let seqs = segments(&dir).map_err(|e| fail("listing the directory", e))?;
        let mut scans = Vec::with_capacity(seqs.len());
        for (i, &seq) in seqs.iter().enumerate() {
            let path = segment::path(&dir, seq);
            let scan = segment::scan(&path).map_err(|e| fail("reading a segment", e))?;
            if let Some(damage) = &scan.damage {
                let last = i + 1 == seqs.len();
                tracing::warn!(segment = %path.display(), damaged_bytes = scan.damaged_bytes, intact_records = scan.records.len(), damage = %damage, last, "Skipping a damaged tail of the ingest journal: a crash in mid-append leaves one, and no 202 was sent for it.");
                replayed.damaged_bytes += scan.damaged_bytes;
            }
            scans.push((seq, path, scan.records));
        }
        let stored = stored_records(&scans);
        for (seq, path, records) in scans {
            let mut kept = 0;
            for (index, payload) in (0u32..).zip(records) {
                if payload.first() != Some(&segment::BATCH) || stored.contains(&RecordId { seq, index }) {
                    continue;
                }
                match microdash_codec::decode_batch(&payload[1..]) {
                    Ok(batch) => {
                        replayed.batches += 1;
                        replayed.samples += batch.samples.len();
                        ledger.record(memory.push_replayed(batch), RecordId { seq, index });
                        kept += 1;
                    }
                    Err(error) => {
                        tracing::error!(error = %error, segment = %path.display(), "A journal record with a valid checksum does not decode; skipping it.");
                    }
                }
            }
            if kept == 0 {
                std::fs::remove_file(&path).map_err(|e| fail("removing a stored segment", e))?;
            }
        }
        let active = seqs.last().map_or(1, |last| last + 1);
        ledger.activate(active);
        let ledger = Arc::new(Mutex::new(ledger));
        let (appender, thread) = writer::start(&dir, active, options.segment_bytes, ledger.clone())
            .map_err(|e| fail("creating a segment", e))?;
        if replayed.batches > 0 {
            tracing::info!(batches = replayed.batches, samples = replayed.samples, dir = %dir.display(), "Queued the batches the ingest journal held from the last run.");
        }
        Ok((Self { memory, ledger, appender, thread: Some(thread), dir }, replayed))
    }

    /// Stops accepting batches; consumers drain what is queued and then get `None`. What is
    /// not stored by then stays in the journal for the next start.
    pub fn close(&self) {
        self.memory.close();
    }

    /// Samples queued or in flight.
    pub fn depth(&self) -> usize {
        self.memory.depth()
    }

    /// Records acknowledged deliveries as stored and deletes the segments that hold nothing
    /// more to store.
    fn settle(&self, ids: &[String]) {
        let (records, done) = self
            .ledger
            .lock()
            .expect("journal ledger poisoned")
            .settle(ids.iter().filter_map(|id| id.parse::<u64>().ok()));
        if !records.is_empty() {
            // A writer that stopped has said so in the log; the batches are then stored a
            // second time at the next start, each sample replacing itself.
            let _ = self.appender.send(Job::Acks(records));
        }
        writer::delete_segments(&self.dir, done);
    }
}

impl Drop for JournalIngestQueue {
    fn drop(&mut self) {
        // Closing the only sender lets the thread write what it was sent, then end.
        drop(std::mem::replace(&mut self.appender, tokio::sync::mpsc::unbounded_channel().0));
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("The ingest journal's thread panicked.");
        }
    }
}

#[async_trait]
impl IngestQueue for JournalIngestQueue {
    async fn enqueue(&self, batch: IngestBatch) -> Result<(), QueueError> {
        let reservation = self.memory.reserve(batch.samples.len()).await?;
        let payload = microdash_codec::encode_batch(&batch);
        let (reply, answer) = oneshot::channel();
        self.appender
            .send(Job::Append(Append { payload, batch, reservation, reply }))
            .map_err(|_| QueueError::unavailable(JournalError::Stopped))?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => {
                Err(QueueError::unavailable(JournalError::Write { dir: self.dir.clone(), source }))
            }
            Err(_) => Err(QueueError::unavailable(JournalError::Stopped)),
        }
    }
}

#[async_trait]
impl IngestConsumer for JournalIngestQueue {
    async fn next(&self, max_samples: usize) -> Result<Option<Vec<Delivery>>, QueueError> {
        self.memory.next(max_samples).await
    }

    async fn ack(&self, ids: &[String]) -> Result<(), QueueError> {
        self.memory.ack(ids).await?;
        self.settle(ids);
        Ok(())
    }

    async fn reject(&self, id: &str, reason: &str) -> Result<(), QueueError> {
        self.memory.reject(id, reason).await?;
        self.settle(&[id.to_owned()]);
        Ok(())
    }

    async fn extend(&self, ids: &[String]) -> Result<(), QueueError> {
        self.memory.extend(ids).await
    }
}

#[async_trait]
impl HealthCheck for JournalIngestQueue {
    fn component(&self) -> &'static str {
        "queue"
    }

    async fn check(&self) -> Result<(), HealthError> {
        if self.appender.is_closed() {
            return Err(HealthError::unavailable(
                "the ingest queue cannot take batches",
                JournalError::Stopped,
            ));
        }
        self.memory.check().await
    }
}

/// The batch records that an acknowledgement record names: stored before the last run ended.
fn stored_records(scans: &[(u64, PathBuf, Vec<Vec<u8>>)]) -> HashSet<RecordId> {
    let mut stored = HashSet::new();
    for (_, path, records) in scans {
        for payload in records.iter().filter(|p| p.first() == Some(&segment::ACKS)) {
            match segment::read_acks(&payload[1..]) {
                Some(ids) => stored.extend(ids),
                None => {
                    tracing::warn!(segment = %path.display(), "An acknowledgement record of the ingest journal is damaged; its batches are stored a second time, each sample replacing itself.")
                }
            }
        }
    }
    stored
}

/// The segments in `dir`, oldest first.
fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut seqs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        if let Some(seq) = entry?.file_name().to_str().and_then(segment::seq_of) {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// Creates `dir` when missing and makes it the service user's alone: the journal holds every
/// tenant's samples.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
