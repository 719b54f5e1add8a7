//! `microdash queue stats` and `microdash queue dead-letters list|replay|drop`: the operator's
//! view of the Redis ingest queue.

use anyhow::Context;
use microdash_adapter_redis::{DeadLetter, RedisIngestQueue};
use serde_json::{Value, json};

use crate::cli::{DeadLetterCommand, QueueArgs, QueueCommand};
use crate::config::process_name;

/// Runs a queue command.
///
/// # Errors
/// No `--redis-url`, or Redis unreachable, with a message saying what to do.
pub async fn run(cmd: QueueCommand) -> anyhow::Result<()> {
    match cmd {
        QueueCommand::Stats { common } => {
            let s = open(&common).await?.stats().await?;
            let age = s.oldest_pending_age.map(|a| a.as_secs_f64());
            let j = json!({
                "depth": s.depth,
                "pending": s.pending,
                "oldest_pending_age_seconds": age,
                "dead_letters": s.dead_letters,
            });
            emit(common.json, j, || {
                format!(
                    "queued or being stored: {} request(s)\nbeing stored (pending): {}\noldest pending: {}\ndead letters: {}",
                    s.depth,
                    s.pending,
                    age.map_or_else(|| "-".into(), |a| format!("{a:.1} s ago")),
                    s.dead_letters
                )
            });
        }
        QueueCommand::DeadLetters(DeadLetterCommand::List { limit, common }) => {
            let letters = open(&common).await?.dead_letters(limit).await?;
            let text = || {
                if letters.is_empty() {
                    return "No dead letters.".to_string();
                }
                let mut out = format!("{:<18} {:>7} {:>8}  {}", "ID", "TENANT", "SAMPLES", "REASON");
                for d in &letters {
                    let (tenant, samples) = d.batch.as_ref().map_or(("?".into(), "?".into()), |b| {
                        (b.tenant.to_string(), b.samples.len().to_string())
                    });
                    out.push_str(&format!("\n{:<18} {tenant:>7} {samples:>8}  {}", d.id, d.reason));
                }
                out
            };
            emit(common.json, Value::Array(letters.iter().map(letter_json).collect()), text);
        }
        QueueCommand::DeadLetters(DeadLetterCommand::Replay { ids, all, common }) => {
            let queue = open(&common).await?;
            let ids = chosen(&queue, ids, all).await?;
            let n = queue.replay_dead_letters(&ids).await?;
            emit(common.json, json!({ "replayed": n }), || {
                format!("Put {n} dead letter(s) back on the ingest queue; the workers store them now.")
            });
        }
        QueueCommand::DeadLetters(DeadLetterCommand::Drop { ids, all, common }) => {
            let queue = open(&common).await?;
            let ids = chosen(&queue, ids, all).await?;
            let n = queue.drop_dead_letters(&ids).await?;
            emit(common.json, json!({ "dropped": n }), || format!("Deleted {n} dead letter(s) for good."))
        }
    }
    Ok(())
}

async fn open(common: &QueueArgs) -> anyhow::Result<RedisIngestQueue> {
    let options = common.redis.options(&process_name())?.context(
        "the queue commands work on the Redis ingest queue: give --redis-url (or MICRODASH_REDIS_URL); \
         the embedded default's queue lives inside `microdash serve`",
    )?;
    let shown = format!("{options:?}");
    RedisIngestQueue::connect(options).await.with_context(|| format!("connecting to Redis ({shown})"))
}

async fn chosen(queue: &RedisIngestQueue, ids: Vec<String>, all: bool) -> anyhow::Result<Vec<String>> {
    if !all {
        return Ok(ids);
    }
    Ok(queue.dead_letters(usize::MAX).await?.into_iter().map(|d| d.id).collect())
}

fn letter_json(d: &DeadLetter) -> Value {
    json!({
        "id": d.id,
        "original_id": d.original_id,
        "reason": d.reason,
        "tenant_id": d.batch.as_ref().map(|b| b.tenant.get()),
        "request_id": d.batch.as_ref().map(|b| b.request_id.clone()),
        "samples": d.batch.as_ref().map(|b| b.samples.len()),
        "payload_bytes": d.payload_bytes,
    })
}

// Printing the result is what these commands are for.
#[allow(clippy::print_stdout)]
fn emit(json_out: bool, json: Value, text: impl FnOnce() -> String) {
    if json_out {
        println!("{json}");
    } else {
        println!("{}", text());
    }
}
