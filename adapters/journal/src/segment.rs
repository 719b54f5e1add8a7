//! The journal's files: segments named by sequence number, each an 8-byte header and then
//! records of `[payload length: u32 LE][CRC-32C of the payload: u32 LE][payload]`.
//!
//! A record is whole or it is not there: a torn write (the process or the machine died in the
//! middle of an append) leaves a tail whose length or checksum does not match, which reading
//! detects and stops at.
//!
//! A payload starts with its kind: [`BATCH`] (an ingest batch in `microdash-codec`'s form) or
//! [`ACKS`] (the batches since stored, each named by its [`RecordId`]), so that a restart
//! queues again only what was not stored.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crc::{CRC_32_ISCSI, Crc};

/// The first bytes of every segment, so a foreign file in the directory is never read as one
/// (and a format change can be told apart).
pub(crate) const HEADER: &[u8; 8] = b"MDJRNL01";

/// Bytes before each record's payload: its length and checksum.
pub(crate) const RECORD_HEAD: usize = 8;

/// The largest payload a record may carry. A batch is at most a few MiB (the HTTP body limit
/// bounds it); a length past this in a record head can only be damage.
pub(crate) const MAX_PAYLOAD: usize = 256 * 1024 * 1024;

/// The kind byte of a payload holding one ingest batch.
pub(crate) const BATCH: u8 = 0;

/// The kind byte of a payload listing stored batches.
pub(crate) const ACKS: u8 = 1;

/// Where a record is: its segment and its position among the segment's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RecordId {
    pub seq: u64,
    pub index: u32,
}

/// Bytes of one [`RecordId`] in an [`ACKS`] payload.
pub(crate) const RECORD_ID_BYTES: usize = 12;

/// The body of an [`ACKS`] record.
pub(crate) fn acks_body(ids: &[RecordId]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ids.len() * RECORD_ID_BYTES);
    for id in ids {
        out.extend_from_slice(&id.seq.to_le_bytes());
        out.extend_from_slice(&id.index.to_le_bytes());
    }
    out
}

/// The record ids of an [`ACKS`] payload (without its kind byte), or `None` when its length
/// is not a whole number of ids.
pub(crate) fn read_acks(body: &[u8]) -> Option<Vec<RecordId>> {
    if !body.len().is_multiple_of(RECORD_ID_BYTES) {
        return None;
    }
    let ids = body
        .chunks_exact(RECORD_ID_BYTES)
        .map(|c| RecordId {
            seq: u64::from_le_bytes(c[..8].try_into().expect("8 bytes")),
            index: u32::from_le_bytes(c[8..].try_into().expect("4 bytes")),
        })
        .collect();
    Some(ids)
}

/// CRC-32C (Castagnoli): the checksum storage formats use for torn-write detection (ext4,
/// iSCSI, LevelDB), with hardware support on common processors.
const CHECKSUM: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// Appends one record to `out`, its payload the `kind` byte and then `body`.
pub(crate) fn put_record(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    let len = u32::try_from(1 + body.len()).expect("a record payload fits in u32 (MAX_PAYLOAD)");
    let mut sum = CHECKSUM.digest();
    sum.update(&[kind]);
    sum.update(body);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&sum.finalize().to_le_bytes());
    out.push(kind);
    out.extend_from_slice(body);
}

/// The path of segment `seq` in `dir`.
pub(crate) fn path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.journal"))
}

/// The sequence number of a segment's file name, or `None` for any other file.
pub(crate) fn seq_of(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".journal")?;
    if digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()) { digits.parse().ok() } else { None }
}

/// What reading a segment found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// The payloads of the intact records, in order.
    pub records: Vec<Vec<u8>>,
    /// Bytes up to the end of the last intact record (including the header).
    pub intact_len: u64,
    /// Bytes after it that do not form an intact record (0 when the segment ends cleanly).
    pub damaged_bytes: u64,
    /// Why reading stopped early, when it did.
    pub damage: Option<String>,
}

/// Reads every intact record of the segment at `path`, stopping at the first record whose
/// head or checksum does not hold.
///
/// # Errors
/// Reading the file failed, or its header is not a segment's.
pub(crate) fn scan(path: &Path) -> io::Result<Scan> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    if bytes.len() < HEADER.len() {
        // Created, then the process died before the header reached the disk: an empty segment.
        return Ok(Scan { damaged_bytes: bytes.len() as u64, ..Scan::default() });
    }
    if &bytes[..HEADER.len()] != HEADER {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a microdash journal segment"));
    }
    let mut scan = Scan::default();
    let mut at = HEADER.len();
    while at < bytes.len() {
        match record_at(&bytes, at) {
            Ok((payload, next)) => {
                scan.records.push(payload.to_vec());
                at = next;
            }
            Err(why) => {
                scan.damage = Some(why);
                break;
            }
        }
    }
    scan.intact_len = at as u64;
    scan.damaged_bytes = (bytes.len() - at) as u64;
    Ok(scan)
}

/// The payload of the record at `at` and where the next one starts, or why there is no
/// intact record there.
fn record_at(bytes: &[u8], at: usize) -> Result<(&[u8], usize), String> {
    let head = bytes.get(at..at + RECORD_HEAD).ok_or("a record head cut short")?;
    let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
    let sum = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
    if len > MAX_PAYLOAD {
        return Err(format!("a record length of {len} bytes, more than any batch"));
    }
    let start = at + RECORD_HEAD;
    let payload = bytes.get(start..start + len).ok_or("a record cut short")?;
    if CHECKSUM.checksum(payload) != sum {
        return Err("a record whose checksum does not match".into());
    }
    Ok((payload, start + len))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn segment(dir: &Path, records: &[&[u8]], tail: &[u8]) -> PathBuf {
        let path = path(dir, 7);
        let mut bytes = HEADER.to_vec();
        for r in records {
            put_record(&mut bytes, BATCH, r);
        }
        bytes.extend_from_slice(tail);
        File::create(&path).unwrap().write_all(&bytes).unwrap();
        path
    }

    #[test]
    fn intact_records_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let scan = scan(&segment(dir.path(), &[b"one", b"", b"three"], b"")).unwrap();
        let batch = |body: &[u8]| [&[BATCH], body].concat();
        assert_eq!(scan.records, vec![batch(b"one"), batch(b""), batch(b"three")]);
        assert_eq!((scan.damaged_bytes, scan.damage), (0, None));
    }

    #[test]
    fn every_torn_tail_is_detected_and_the_records_before_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut whole = Vec::new();
        put_record(&mut whole, BATCH, b"the record being written when the power went");
        // Every prefix of a record is what a torn append can leave behind.
        for cut in 1..whole.len() {
            let scan = scan(&segment(dir.path(), &[b"kept"], &whole[..cut])).unwrap();
            assert_eq!(scan.records, vec![b"\0kept".to_vec()], "cut at {cut}");
            assert_eq!(scan.damaged_bytes, cut as u64, "cut at {cut}");
            assert!(scan.damage.is_some());
        }
    }

    #[test]
    fn a_flipped_bit_in_a_payload_fails_its_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let mut damaged = Vec::new();
        put_record(&mut damaged, BATCH, b"payload");
        *damaged.last_mut().unwrap() ^= 0x10;
        let scan = scan(&segment(dir.path(), &[b"a"], &damaged)).unwrap();
        assert_eq!(scan.records.len(), 1);
        assert!(scan.damage.unwrap().contains("checksum"));
    }

    #[test]
    fn a_file_that_is_not_a_segment_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000001.journal");
        File::create(&path).unwrap().write_all(b"SQLite format 3\0").unwrap();
        assert_eq!(scan(&path).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn acknowledgements_read_back_as_written() {
        let ids = [RecordId { seq: 1, index: 0 }, RecordId { seq: u64::MAX, index: 77 }];
        let body = acks_body(&ids);
        assert_eq!(read_acks(&body).unwrap(), ids);
        assert_eq!(read_acks(&body[..body.len() - 1]), None, "a partial id is damage");
    }

    #[test]
    fn only_segment_names_have_a_sequence_number() {
        assert_eq!(seq_of("00000000000000000042.journal"), Some(42));
        assert_eq!(seq_of(path(Path::new("d"), 9).file_name().unwrap().to_str().unwrap()), Some(9));
        assert_eq!(seq_of("42.journal"), None);
        assert_eq!(seq_of("0000000000000000004x.journal"), None);
        assert_eq!(seq_of("microdash.db"), None);
    }
}
