//! The one thread that appends to the journal, with group commit: it takes every append that
//! is waiting, writes them with one `write` and makes them durable with one `fdatasync`, then
//! queues their batches and answers them all. Under load many requests share one sync; alone,
//! a request waits for one.
//!
//! A batch is queued for the worker only once it is on disk, by this thread, so a request
//! whose client went away after the write still has its batch stored, and the ledger always
//! counts a record before the worker can acknowledge it.
//!
//! Acknowledgements (batches since stored) are written too, but not synced on their own: one
//! lost in a crash only means its batches are stored a second time at the next start, where
//! each sample replaces itself (same series and millisecond).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use microdash_adapter_memory::Reservation;
use microdash_usecases::ports::IngestBatch;
use tokio::sync::{mpsc, oneshot};

use crate::ledger::Ledger;
use crate::segment::{self, ACKS, BATCH, HEADER, RECORD_HEAD, RECORD_ID_BYTES, RecordId};

/// Bytes of appends taken into one group at most, so a burst is written in pieces of a
/// bounded size rather than collected without end.
const GROUP_BYTES: usize = 16 * 1024 * 1024;

/// What the thread is asked to write.
pub(crate) enum Job {
    Append(Append),
    /// Records of batches that are stored now.
    Acks(Vec<RecordId>),
}

/// One batch to append, with the room it holds in the queue and who waits for the answer.
pub(crate) struct Append {
    /// The batch in its binary form (a [`BATCH`] record's body).
    pub payload: Vec<u8>,
    pub batch: IngestBatch,
    pub reservation: Reservation,
    /// `Ok` once the batch is on disk and queued.
    pub reply: oneshot::Sender<Result<(), Arc<io::Error>>>,
}

/// The appending thread's handle: dropping every sender ends the thread.
pub(crate) type Appender = mpsc::UnboundedSender<Job>;

/// Starts the appending thread on a new segment `seq` in `dir`. The thread ends once every
/// [`Appender`] is dropped and what they sent is written.
///
/// # Errors
/// The segment could not be created.
pub(crate) fn start(
    dir: &Path,
    seq: u64,
    segment_bytes: u64,
    ledger: Arc<Mutex<Ledger>>,
) -> io::Result<(Appender, std::thread::JoinHandle<()>)> {
    let file = create_segment(dir, seq)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let mut writer = Writer {
        dir: dir.to_owned(),
        seq,
        file,
        len: HEADER.len() as u64,
        records: 0,
        damaged: false,
        segment_bytes,
        ledger,
    };
    let thread = std::thread::Builder::new().name("journal".into()).spawn(move || writer.run(rx))?;
    Ok((tx, thread))
}

struct Writer {
    dir: PathBuf,
    /// The segment being appended to.
    seq: u64,
    file: File,
    /// Bytes of that segment known to be intact on disk.
    len: u64,
    /// Records in that segment: the next record's index.
    records: u32,
    /// A failed append could not be cut off the segment: the next append goes to a new one,
    /// since reading stops at the damage and would not reach records written after it.
    damaged: bool,
    segment_bytes: u64,
    ledger: Arc<Mutex<Ledger>>,
}

impl Writer {
    fn run(&mut self, mut rx: mpsc::UnboundedReceiver<Job>) {
        while let Some(first) = rx.blocking_recv() {
            let mut group = Group::default();
            group.add(first);
            while group.bytes < GROUP_BYTES {
                let Ok(next) = rx.try_recv() else { break };
                group.add(next);
            }
            match self.write(&group) {
                Ok(first_index) => self.queue(group.appends, first_index),
                Err(error) if group.appends.is_empty() => {
                    tracing::warn!(error = %error, dir = %self.dir.display(), "Could not record stored batches in the ingest journal; after a restart they would be stored a second time, each sample replacing itself.");
                }
                Err(error) => {
                    tracing::error!(error = %error, batches = group.appends.len(), dir = %self.dir.display(), "Could not write to the ingest journal; the requests get 503 and nothing of theirs is kept.");
                    let error = Arc::new(error);
                    for append in group.appends {
                        // Dropping the reservation gives its room back.
                        let _ = append.reply.send(Err(error.clone()));
                    }
                }
            }
        }
    }

    /// Writes the group's records (its batches first) and, when it holds batches, syncs them,
    /// starting a new segment first when this one is full. Returns the index of the first
    /// record written. On failure the segment is cut back to its intact length, so a
    /// half-written group never sits in front of later records.
    fn write(&mut self, group: &Group) -> io::Result<u32> {
        if self.damaged
            || (self.len > HEADER.len() as u64 && self.len + group.bytes as u64 > self.segment_bytes)
        {
            self.rotate()?;
        }
        let mut buf = Vec::with_capacity(group.bytes);
        for append in &group.appends {
            segment::put_record(&mut buf, BATCH, &append.payload);
        }
        if !group.acks.is_empty() {
            segment::put_record(&mut buf, ACKS, &segment::acks_body(&group.acks));
        }
        let durable = !group.appends.is_empty();
        let written =
            self.file.write_all(&buf).and_then(|()| if durable { self.file.sync_data() } else { Ok(()) });
        match written {
            Ok(()) => {
                let first = self.records;
                self.len += buf.len() as u64;
                self.records += (group.appends.len() + usize::from(!group.acks.is_empty())) as u32;
                Ok(first)
            }
            Err(error) => {
                if let Err(cut) = self.file.set_len(self.len) {
                    tracing::error!(error = %cut, "Could not cut a failed append off the ingest journal; appends go to a new segment.");
                    self.damaged = true;
                }
                Err(error)
            }
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        let next = self.seq + 1;
        self.file = create_segment(&self.dir, next)?;
        self.seq = next;
        self.len = HEADER.len() as u64;
        self.records = 0;
        self.damaged = false;
        let done = self.ledger.lock().expect("journal ledger poisoned").activate(next);
        delete_segments(&self.dir, done);
        Ok(())
    }

    /// Queues the durable batches (written from record `first_index` on) for the worker,
    /// counts them in the ledger, and answers.
    fn queue(&self, appends: Vec<Append>, first_index: u32) {
        let mut ledger = self.ledger.lock().expect("journal ledger poisoned");
        for (index, append) in (first_index..).zip(appends) {
            let id = append.reservation.push(append.batch);
            ledger.record(id, RecordId { seq: self.seq, index });
            let _ = append.reply.send(Ok(()));
        }
    }
}

/// The jobs taken together into one write.
#[derive(Default)]
struct Group {
    appends: Vec<Append>,
    acks: Vec<RecordId>,
    /// Bytes the group's records take.
    bytes: usize,
}

impl Group {
    fn add(&mut self, job: Job) {
        match job {
            Job::Append(append) => {
                self.bytes += RECORD_HEAD + 1 + append.payload.len();
                self.appends.push(append);
            }
            Job::Acks(ids) => {
                if self.acks.is_empty() {
                    self.bytes += RECORD_HEAD + 1;
                }
                self.bytes += ids.len() * RECORD_ID_BYTES;
                self.acks.extend(ids);
            }
        }
    }
}

/// Deletes segments whose batches are all stored.
pub(crate) fn delete_segments(dir: &Path, seqs: Vec<u64>) {
    for seq in seqs {
        let path = segment::path(dir, seq);
        if let Err(error) = std::fs::remove_file(&path) {
            tracing::warn!(error = %error, segment = %path.display(), "Could not delete a stored segment of the ingest journal; it is read (and its batches skipped) at the next start.");
        }
    }
}

/// Creates segment `seq` with its header, durably: the file, its header and its directory
/// entry are synced before anything is appended.
fn create_segment(dir: &Path, seq: u64) -> io::Result<File> {
    let path = segment::path(dir, seq);
    let mut file = OpenOptions::new().create_new(true).append(true).mode_private().open(&path)?;
    file.write_all(HEADER)?;
    file.sync_all()?;
    File::open(dir)?.sync_all()?;
    Ok(file)
}

/// Journal files hold every tenant's samples: readable by the service user only.
trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for OpenOptions {
    #[cfg(unix)]
    fn mode_private(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }

    #[cfg(not(unix))]
    fn mode_private(&mut self) -> &mut Self {
        self
    }
}
