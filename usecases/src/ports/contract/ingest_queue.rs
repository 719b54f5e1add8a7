//! Contract of [`IngestQueue`] and [`IngestConsumer`]: batches delivered in order and acknowledged.

use super::*;

/// Batches come out in order, are acknowledged, and the consumer sees them all.
pub async fn ingest_queue_delivers_every_batch_in_order(
    queue: &dyn IngestQueue,
    consumer: &dyn IngestConsumer,
) {
    for i in 0..3 {
        let batch = IngestBatch {
            request_id: format!("r{i}"),
            tenant: microdash_domain::TenantId::new(1),
            received_at: Timestamp::from_millis(T0),
            samples: vec![sample("m", None, i, i as f64)],
        };
        queue.enqueue(batch).await.unwrap();
    }
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let got = tokio::time::timeout(Duration::from_secs(5), consumer.next(1000)).await.expect("in time");
        let got = got.unwrap().expect("queue open");
        consumer.ack(&got.iter().map(|d| d.id.clone()).collect::<Vec<_>>()).await.unwrap();
        seen.extend(got.into_iter().map(|d| d.batch.request_id));
    }
    assert_eq!(seen, vec!["r0", "r1", "r2"]);
}
