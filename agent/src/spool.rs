//! A bounded on-disk spool of batches that could not be delivered yet.
//!
//! Each batch is one file `{seq:020}-{collected_ms}.batch` in the spool directory, written once
//! (to a `.tmp` name, synced, then renamed, so a crash never leaves half a batch) and deleted only
//! when the broker has acknowledged it (PUBACK) or when the spool is full and it is the oldest.
//! The sequence number orders batches oldest-first and survives restarts, because it is read
//! back from the file names on open. Not for: deciding *when* to spool (see [`crate::publish`]).

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// One spooled batch, as kept in memory (the payload stays on disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    seq: u64,
    bytes: u64,
    collected_ms: i64,
}

/// The spool directory and an index of what it holds.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    entries: VecDeque<Entry>,
    total_bytes: u64,
    next_seq: u64,
    /// Batches dropped because the spool was full, since this process started.
    dropped: u64,
}

/// What the spool reports about itself as `agent.spool.*` metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpoolStats {
    /// Batches waiting.
    pub depth: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Collection time of the oldest waiting batch, epoch ms.
    pub oldest_ms: Option<i64>,
    /// Batches dropped because the spool was full, since start.
    pub dropped: u64,
}

fn parse_name(name: &str) -> Option<(u64, i64)> {
    let (seq, ms) = name.strip_suffix(".batch")?.split_once('-')?;
    Some((seq.parse().ok()?, ms.parse().ok()?))
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, indexing the batches already there and
    /// removing leftovers of an interrupted write.
    ///
    /// # Errors
    /// The directory cannot be created or listed.
    pub fn open(dir: impl Into<PathBuf>, max_bytes: u64) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        let mut entries = Vec::new();
        for item in fs::read_dir(&dir)? {
            let item = item?;
            let name = item.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(item.path());
            } else if let Some((seq, collected_ms)) = parse_name(&name) {
                entries.push(Entry { seq, bytes: item.metadata()?.len(), collected_ms });
            }
        }
        entries.sort_by_key(|e| e.seq);
        let next_seq = entries.last().map_or(0, |e| e.seq + 1);
        let total_bytes = entries.iter().map(|e| e.bytes).sum();
        Ok(Self { dir, max_bytes, entries: entries.into(), total_bytes, next_seq, dropped: 0 })
    }

    fn path(&self, e: &Entry) -> PathBuf {
        self.dir.join(format!("{:020}-{}.batch", e.seq, e.collected_ms))
    }

    /// Appends a batch, first dropping the oldest batches while it would not fit. Returns
    /// its sequence number.
    ///
    /// # Errors
    /// Writing the file failed (disk full, permissions); nothing was added.
    pub fn push(&mut self, collected_ms: i64, payload: &[u8]) -> io::Result<u64> {
        let bytes = payload.len() as u64;
        let mut dropped_now = 0;
        while self.total_bytes + bytes > self.max_bytes
            && let Some(oldest) = self.entries.pop_front()
        {
            self.total_bytes -= oldest.bytes;
            let _ = fs::remove_file(self.path(&oldest));
            dropped_now += 1;
        }
        if dropped_now > 0 {
            self.dropped += dropped_now;
            tracing::error!(
                dropped = dropped_now,
                dropped_total = self.dropped,
                max_bytes = self.max_bytes,
                "Spool is full; dropped the oldest batches."
            );
        }
        let entry = Entry { seq: self.next_seq, bytes, collected_ms };
        let path = self.path(&entry);
        let tmp = path.with_extension("tmp");
        let mut f = fs::File::create(&tmp)?;
        f.write_all(payload)?;
        f.sync_data()?;
        fs::rename(&tmp, &path)?;
        self.next_seq += 1;
        self.total_bytes += bytes;
        self.entries.push_back(entry);
        Ok(entry.seq)
    }

    /// The payload of batch `seq`, or `None` if it is no longer spooled.
    ///
    /// # Errors
    /// The file exists in the index but cannot be read.
    pub fn read(&self, seq: u64) -> io::Result<Option<Vec<u8>>> {
        match self.entries.iter().find(|e| e.seq == seq) {
            Some(e) => fs::read(self.path(e)).map(Some),
            None => Ok(None),
        }
    }

    /// Removes batch `seq` (it was acknowledged). Unknown sequence numbers are ignored: the
    /// batch may have been dropped for space while it was in flight.
    ///
    /// # Errors
    /// The file could not be deleted.
    pub fn remove(&mut self, seq: u64) -> io::Result<()> {
        if let Some(pos) = self.entries.iter().position(|e| e.seq == seq) {
            let e = self.entries.remove(pos).unwrap_or(Entry { seq, bytes: 0, collected_ms: 0 });
            self.total_bytes -= e.bytes;
            fs::remove_file(self.path(&e))?;
        }
        Ok(())
    }

    /// The oldest batch with a sequence number after `after` (or the oldest of all).
    pub fn next_after(&self, after: Option<u64>) -> Option<u64> {
        self.entries.iter().map(|e| e.seq).find(|&s| after.is_none_or(|a| s > a))
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Depth, size, oldest batch and drops.
    pub fn stats(&self) -> SpoolStats {
        SpoolStats {
            depth: self.entries.len() as u64,
            bytes: self.total_bytes,
            oldest_ms: self.entries.front().map(|e| e.collected_ms),
            dropped: self.dropped,
        }
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_come_back_oldest_first_and_leave_only_when_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
        let a = spool.push(10, b"[1]").unwrap();
        let b = spool.push(20, b"[2]").unwrap();
        assert_eq!(spool.next_after(None), Some(a));
        assert_eq!(spool.next_after(Some(a)), Some(b));
        assert_eq!(spool.next_after(Some(b)), None);
        spool.remove(a).unwrap();
        assert_eq!(spool.read(b).unwrap().as_deref(), Some(&b"[2]"[..]));
        assert_eq!(spool.stats(), SpoolStats { depth: 1, bytes: 3, oldest_ms: Some(20), dropped: 0 });
    }

    #[test]
    fn a_full_spool_drops_the_oldest_batches_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 10).unwrap();
        for i in 0..5 {
            spool.push(i, b"1234").unwrap();
        }
        let stats = spool.stats();
        assert_eq!((stats.depth, stats.bytes, stats.dropped, stats.oldest_ms), (2, 8, 3, Some(3)));
    }

    #[test]
    fn a_reopened_spool_keeps_its_batches_order_and_numbering() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
        let first = spool.push(1, b"a").unwrap();
        let second = spool.push(2, b"b").unwrap();
        drop(spool);
        fs::write(dir.path().join("00000000000000000009-9.tmp"), b"half").unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(spool.stats().depth, 2);
        assert_eq!(spool.next_after(None), Some(first));
        let third = spool.push(3, b"c").unwrap();
        assert!(third > second);
        assert!(!dir.path().join("00000000000000000009-9.tmp").exists());
    }
}
