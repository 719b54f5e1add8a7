//! Throughput of the Redis ingest queue: enqueue of 1,000-sample batches, then consume + ack,
//! each on a single connection with sequential awaits (the api and worker do the same).
//!
//! ```text
//! cargo run --release -p microdash-adapter-redis --example redis_queue -- [entries] [samples per batch]
//! ```
//! Redis URL from `MICRODASH_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`); uses a unique
//! key prefix and deletes it at the end.

use std::time::{Duration, Instant};

use microdash_adapter_redis::{RedisIngestQueue, RedisOptions};
use microdash_domain::sample::SeriesKey;
use microdash_domain::{AgentId, DedupeId, MetricName, Sample, Tags, TenantId, Timestamp};
use microdash_usecases::ports::{IngestBatch, IngestConsumer, IngestQueue};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let entries: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5_000);
    let per_batch: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1_000);
    let url = std::env::var("MICRODASH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("microdash-bench:{}:", std::process::id());
    let options = RedisOptions {
        url: url.clone(),
        key_prefix: prefix.clone(),
        stream_max_len: std::env::var("BOUND")
            .ok()
            .map(|b| b.parse())
            .transpose()?
            .unwrap_or(entries as u64 + 1),
        claim_idle: Duration::from_secs(60),
        ..RedisOptions::default()
    };
    let q = RedisIngestQueue::connect(options).await?;
    let batch = batch(per_batch);
    let bytes = serde_json::to_vec(&batch.samples)?.len();

    let start = Instant::now();
    for i in 0..entries {
        let mut b = batch.clone();
        b.request_id = format!("req-{i}");
        q.enqueue(b).await?;
    }
    report("enqueue", entries, per_batch, start.elapsed());
    let mut con = redis::Client::open(url.as_str())?.get_multiplexed_async_connection().await?;
    let first: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(format!("{prefix}ingest"))
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut con)
        .await?;
    let wire = match first.ids.first().and_then(|e| e.map.get("b")) {
        Some(redis::Value::BulkString(b)) => b.len(),
        _ => 0,
    };

    let start = Instant::now();
    let mut done = 0;
    while done < entries {
        let got = q.next(10 * per_batch).await?.expect("queue open");
        done += got.len();
        q.ack(&got.into_iter().map(|d| d.id).collect::<Vec<_>>()).await?;
    }
    report("consume+ack", entries, per_batch, start.elapsed());
    let stats = q.stats().await?;
    say(&format!(
        "left: depth {} pending {}; one entry {wire} B on the wire ({bytes} B as the domain types' JSON)",
        stats.depth, stats.pending
    ));

    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut con).await?;
    if !keys.is_empty() {
        redis::cmd("DEL").arg(keys).query_async::<()>(&mut con).await?;
    }
    Ok(())
}

fn batch(n: usize) -> IngestBatch {
    let samples = (0..n)
        .map(|i| Sample {
            series: SeriesKey {
                metric: MetricName::new(format!("system.cpu.m{}", i % 50)).unwrap(),
                agent: Some(AgentId::new(format!("host-{}", i % 20)).unwrap()),
                tags: Tags::empty(),
            },
            value: i as f64 * 0.37,
            timestamp: Timestamp::from_millis(1_795_000_000_000 + i as i64),
            dedupe_id: (i % 2 == 0).then(|| DedupeId::new(format!("d-{i}")).unwrap()),
        })
        .collect();
    IngestBatch {
        request_id: String::new(),
        tenant: TenantId::new(1),
        received_at: Timestamp::from_millis(1_795_000_000_000),
        samples,
    }
}

fn report(what: &str, entries: usize, per_batch: usize, took: Duration) {
    let secs = took.as_secs_f64();
    say(&format!(
        "{what}: {entries} entries x {per_batch} samples in {secs:.2} s = {:.0} entries/s, {:.0} samples/s",
        entries as f64 / secs,
        (entries * per_batch) as f64 / secs
    ));
}

/// The workspace warns on `println!`; a benchmark's output is its point.
#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}
