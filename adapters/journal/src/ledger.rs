//! Which segment holds the record of each batch still in the queue, so a segment is deleted
//! once every batch it holds is stored.
//!
//! Deleting a segment also deletes the acknowledgement records it holds. When those name
//! batches of an older segment that is still kept (it holds a batch not yet stored), a restart
//! stores those batches a second time: harmless, since each sample replaces itself, and rare,
//! since segments are deleted oldest first in a queue that drains in order.

use std::collections::{BTreeMap, HashMap};

use crate::segment::RecordId;

/// Records not yet acknowledged, by segment. Shared by the appending thread (which counts a
/// record before its batch can be delivered) and the consumer's acknowledgements.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// The record of each queued delivery, by delivery id.
    owner: HashMap<u64, RecordId>,
    /// Unacknowledged records per segment.
    live: BTreeMap<u64, usize>,
    /// The segment being appended to, never deleted while it is.
    active: u64,
}

impl Ledger {
    /// Delivery `id` has its batch in `record`.
    pub fn record(&mut self, id: u64, record: RecordId) {
        self.owner.insert(id, record);
        *self.live.entry(record.seq).or_default() += 1;
    }

    /// Makes `seq` the segment being appended to, and returns the segments that hold no
    /// unacknowledged batch any more (the one it replaces, say).
    pub fn activate(&mut self, seq: u64) -> Vec<u64> {
        self.active = seq;
        // Counted from the start, so a segment that only ever gets acknowledgements is deleted too.
        self.live.entry(seq).or_default();
        self.settle([]).1
    }

    /// Forgets the records of acknowledged deliveries. Returns their records, and the segments
    /// that no longer hold any unacknowledged batch (the active one excepted), oldest first.
    pub fn settle(&mut self, ids: impl IntoIterator<Item = u64>) -> (Vec<RecordId>, Vec<u64>) {
        let mut records = Vec::new();
        for id in ids {
            let Some(record) = self.owner.remove(&id) else { continue };
            if let Some(n) = self.live.get_mut(&record.seq) {
                *n = n.saturating_sub(1);
            }
            records.push(record);
        }
        let done: Vec<u64> = self
            .live
            .iter()
            .filter(|&(&seq, &n)| n == 0 && seq != self.active)
            .map(|(&seq, _)| seq)
            .collect();
        for seq in &done {
            self.live.remove(seq);
        }
        (records, done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_is_done_when_its_last_record_is_acknowledged_unless_it_is_active() {
        let at = |seq, index| RecordId { seq, index };
        let mut ledger = Ledger::default();
        assert!(ledger.activate(2).is_empty());
        ledger.record(10, at(1, 0));
        ledger.record(11, at(1, 1));
        ledger.record(12, at(2, 0));
        assert_eq!(ledger.settle([10]), (vec![at(1, 0)], vec![]), "segment 1 still holds 11");
        assert_eq!(ledger.settle([10, 99]), (vec![], vec![]), "unknown and repeated ids change nothing");
        assert_eq!(ledger.settle([11]), (vec![at(1, 1)], vec![1]));
        assert_eq!(ledger.settle([12]).1, Vec::<u64>::new(), "the active segment stays");
        assert_eq!(ledger.activate(3), vec![2], "and goes once another is active");
        assert_eq!(ledger.activate(4), vec![3], "a segment that got no batch at all goes too");
    }
}
