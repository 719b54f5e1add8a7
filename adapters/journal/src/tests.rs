use std::io::Write;
use std::time::Duration;

use microdash_domain::sample::SeriesKey;
use microdash_domain::{MetricName, Sample, Tags, TenantId, Timestamp};
use tempfile::TempDir;

use super::*;

fn options(dir: &TempDir) -> JournalOptions {
    JournalOptions {
        dir: dir.path().join("queue"),
        capacity_samples: 10_000,
        segment_bytes: 64 * 1024 * 1024,
    }
}

fn batch(request: &str, n: usize) -> IngestBatch {
    let series = SeriesKey { metric: MetricName::new("cpu").unwrap(), agent: None, tags: Tags::empty() };
    IngestBatch {
        request_id: request.into(),
        tenant: TenantId::new(7),
        received_at: Timestamp::from_millis(1_795_000_000_000),
        samples: (0..n)
            .map(|i| Sample {
                series: series.clone(),
                value: i as f64,
                timestamp: Timestamp::from_millis(1_795_000_000_000 + i as i64),
                dedupe_id: None,
            })
            .collect(),
    }
}

/// Takes everything queued now.
async fn drain(queue: &JournalIngestQueue) -> Vec<Delivery> {
    let mut all = Vec::new();
    while queue.depth() > all.iter().map(|d: &Delivery| d.batch.samples.len()).sum::<usize>() {
        let got = tokio::time::timeout(Duration::from_secs(5), queue.next(1_000_000)).await.expect("in time");
        all.extend(got.unwrap().expect("open"));
    }
    all
}

fn segment_files(options: &JournalOptions) -> Vec<u64> {
    segments(&options.dir).unwrap()
}

microdash_usecases::ingest_queue_contract!(queue, queue =>
    let dir = TempDir::new().unwrap();
    let (queue, _) = JournalIngestQueue::open(&options(&dir)).unwrap()
);

#[tokio::test]
async fn accepted_batches_that_were_not_stored_are_queued_again_at_the_next_start() {
    let dir = TempDir::new().unwrap();
    let (queue, replayed) = JournalIngestQueue::open(&options(&dir)).unwrap();
    assert_eq!(replayed, Replayed::default());
    for (i, n) in [3, 1, 2].into_iter().enumerate() {
        queue.enqueue(batch(&format!("r{i}"), n)).await.unwrap();
    }
    // The first is stored, the second handed out but not stored; then the process is gone.
    let first = queue.next(3).await.unwrap().unwrap();
    queue.ack(&[first[0].id.clone()]).await.unwrap();
    let _unstored = queue.next(1).await.unwrap().unwrap();
    drop(queue);

    let (queue, replayed) = JournalIngestQueue::open(&options(&dir)).unwrap();
    assert_eq!(replayed, Replayed { batches: 2, samples: 3, damaged_bytes: 0 });
    let again: Vec<IngestBatch> = drain(&queue).await.into_iter().map(|d| d.batch).collect();
    assert_eq!(again, vec![batch("r1", 1), batch("r2", 2)], "in order, whole, nothing stored twice");
}

#[tokio::test]
async fn a_torn_tail_is_skipped_and_the_intact_records_before_it_kept() {
    let dir = TempDir::new().unwrap();
    let opts = options(&dir);
    let (queue, _) = JournalIngestQueue::open(&opts).unwrap();
    queue.enqueue(batch("a", 2)).await.unwrap();
    queue.enqueue(batch("b", 2)).await.unwrap();
    drop(queue);
    // A crash in the middle of a third append leaves part of a record.
    let last = *segment_files(&opts).last().unwrap();
    let mut record = Vec::new();
    segment::put_record(&mut record, segment::BATCH, &microdash_codec::encode_batch(&batch("c", 5)));
    let mut file = std::fs::OpenOptions::new().append(true).open(segment::path(&opts.dir, last)).unwrap();
    file.write_all(&record[..record.len() / 2]).unwrap();
    drop(file);

    let (queue, replayed) = JournalIngestQueue::open(&opts).unwrap();
    assert_eq!((replayed.batches, replayed.damaged_bytes), (2, (record.len() / 2) as u64));
    let ids: Vec<String> = drain(&queue).await.into_iter().map(|d| d.batch.request_id).collect();
    assert_eq!(ids, ["a", "b"]);
}

#[tokio::test]
async fn segments_are_deleted_once_every_batch_in_them_is_stored() {
    let dir = TempDir::new().unwrap();
    let opts = JournalOptions { segment_bytes: 512, ..options(&dir) };
    let (queue, _) = JournalIngestQueue::open(&opts).unwrap();
    for i in 0..20 {
        queue.enqueue(batch(&format!("r{i}"), 5)).await.unwrap();
    }
    let before = segment_files(&opts);
    assert!(before.len() > 3, "small segments rotate: {before:?}");
    let delivered = drain(&queue).await;
    let (stored, rest) = delivered.split_at(10);
    queue.ack(&stored.iter().map(|d| d.id.clone()).collect::<Vec<_>>()).await.unwrap();
    let middle = segment_files(&opts);
    assert!(middle.len() < before.len() && middle.len() > 1, "{before:?} -> {middle:?}");
    queue.ack(&rest.iter().map(|d| d.id.clone()).collect::<Vec<_>>()).await.unwrap();
    // The acknowledgement is written by the journal's thread, which may start a segment for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while segment_files(&opts).len() > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "only the active segment is left: {:?}",
            segment_files(&opts)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    drop(queue);
    let (_queue, replayed) = JournalIngestQueue::open(&opts).unwrap();
    assert_eq!(replayed.batches, 0, "nothing stored comes back");
}

#[tokio::test]
async fn a_full_queue_refuses_before_writing_anything() {
    let dir = TempDir::new().unwrap();
    let opts = JournalOptions { capacity_samples: 10, ..options(&dir) };
    let (queue, _) = JournalIngestQueue::open(&opts).unwrap();
    queue.enqueue(batch("fits", 8)).await.unwrap();
    let refused = queue.enqueue(batch("does-not", 8)).await;
    assert!(matches!(refused, Err(QueueError::Full { .. })), "{refused:?}");
    drop(queue);
    let (_queue, replayed) = JournalIngestQueue::open(&opts).unwrap();
    assert_eq!(replayed.batches, 1, "the refused batch was never journaled");
}

#[cfg(unix)]
#[tokio::test]
async fn the_journal_is_readable_by_the_service_user_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new().unwrap();
    let opts = options(&dir);
    let (queue, _) = JournalIngestQueue::open(&opts).unwrap();
    queue.enqueue(batch("r", 1)).await.unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&opts.dir), 0o700);
    for seq in segment_files(&opts) {
        assert_eq!(mode(&segment::path(&opts.dir, seq)), 0o600);
    }
}

#[test]
fn a_file_named_like_a_segment_that_is_not_one_stops_the_start_with_a_clear_error() {
    let dir = TempDir::new().unwrap();
    let opts = options(&dir);
    std::fs::create_dir_all(&opts.dir).unwrap();
    std::fs::write(segment::path(&opts.dir, 3), b"something else entirely").unwrap();
    let error = JournalIngestQueue::open(&opts).err().expect("refused");
    let text = error.to_string();
    assert!(text.contains("reading a segment") && text.contains("queue"), "{text}");
}
