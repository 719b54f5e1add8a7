//! Dedupe ids, the first step of a batch: which samples a tenant sent before.
//!
//! Two ways to learn which ids are new, chosen by
//! [`single_writer`](crate::dialect::Dialect::single_writer). With concurrent writers the
//! insert itself must say (`INSERT IGNORE .. RETURNING`), since another transaction may hold
//! the same id; with a single writer the known ids are looked up first, which streams back
//! only the duplicates (usually none) where `RETURNING` returns a row for every new id.

use std::collections::HashSet;

use microdash_domain::{Sample, TenantId};
use microdash_usecases::ports::StoreError;
use sqlx::AssertSqlSafe;

use super::{Connection, DIALECT};
use crate::dialect::repeated_sql;
use crate::error::SqlxResultExt;
use crate::stored::dedupe_candidates;

/// The primary key of `dedupe`.
const DEDUPE_KEY: &str = "tenant_id, dedupe_id";

/// Records the batch's dedupe ids and returns the positions of samples to skip, ascending:
/// those whose id the tenant sent in an earlier (or a concurrent, committed) batch, and
/// repeats of an id within this batch (the first occurrence wins). `conn` must be inside the
/// batch's write transaction.
pub(super) async fn claim_ids(
    conn: &mut Connection,
    tenant: TenantId,
    batch: &[Sample],
) -> Result<Vec<usize>, StoreError> {
    let (mut candidates, mut duplicates) = dedupe_candidates(batch);
    if candidates.is_empty() {
        return Ok(duplicates);
    }
    if DIALECT.single_writer() {
        let known = look_up_then_insert(conn, tenant, &candidates).await?;
        duplicates.extend(candidates.iter().filter(|(_, id, _)| known.contains(*id)).map(|(i, _, _)| *i));
    } else {
        // Byte order is the column's (utf8mb4_nopad_bin) order: every writer locks ids in it.
        candidates.sort_unstable_by(|a, b| a.1.as_bytes().cmp(b.1.as_bytes()));
        let new = insert_returning_new(conn, tenant, &candidates).await?;
        duplicates.extend(candidates.iter().filter(|(_, id, _)| !new.contains(*id)).map(|(i, _, _)| *i));
    }
    duplicates.sort_unstable();
    Ok(duplicates)
}

/// Returns the ids among `candidates` that are stored already, and stores the others. Safe
/// only under the single writer's lock: nothing can store an id between the two steps.
async fn look_up_then_insert(
    conn: &mut Connection,
    tenant: TenantId,
    candidates: &[(usize, &str, i64)],
) -> Result<HashSet<String>, StoreError> {
    let mut known: HashSet<String> = HashSet::new();
    for chunk in candidates.chunks(DIALECT.rows_per_statement()) {
        let sql = repeated_sql(
            "SELECT dedupe_id FROM dedupe WHERE tenant_id = ? AND dedupe_id IN (",
            "?",
            chunk.len(),
            ")",
        );
        let mut lookup = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql)).bind(tenant.get());
        for &(_, id, _) in chunk {
            lookup = lookup.bind(id);
        }
        known.extend(lookup.fetch_all(&mut *conn).await.or_store("looking up dedupe ids")?);
    }
    let new: Vec<_> = candidates.iter().filter(|(_, id, _)| !known.contains(*id)).collect();
    let (insert, skip) = DIALECT.insert_skipping_taken(DEDUPE_KEY);
    let head = format!("{insert} dedupe (tenant_id, dedupe_id, ts) VALUES ");
    for chunk in new.chunks(DIALECT.rows_per_statement()) {
        let sql = repeated_sql(&head, "(?,?,?)", chunk.len(), &skip);
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for &&(_, id, ts) in chunk {
            q = q.bind(tenant.get()).bind(id).bind(ts);
        }
        q.execute(&mut *conn).await.or_store("recording dedupe ids")?;
    }
    Ok(known)
}

/// Stores the ids among `candidates` that are not stored yet and returns them. An insert
/// that skips taken keys returns only the rows it inserted; a concurrent transaction holding
/// the same new id makes this one wait on that row: after its commit the id is skipped here
/// (a duplicate), after its rollback it is inserted here.
async fn insert_returning_new(
    conn: &mut Connection,
    tenant: TenantId,
    candidates: &[(usize, &str, i64)],
) -> Result<HashSet<String>, StoreError> {
    let (insert, skip) = DIALECT.insert_skipping_taken(DEDUPE_KEY);
    let head = format!("{insert} dedupe (tenant_id, dedupe_id, ts) VALUES ");
    let tail = format!("{skip} RETURNING dedupe_id");
    let mut new: HashSet<String> = HashSet::with_capacity(candidates.len());
    for chunk in candidates.chunks(DIALECT.rows_per_statement()) {
        let sql = repeated_sql(&head, "(?,?,?)", chunk.len(), &tail);
        let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
        for &(_, id, ts) in chunk {
            q = q.bind(tenant.get()).bind(id).bind(ts);
        }
        new.extend(q.fetch_all(&mut *conn).await.or_store("recording dedupe ids")?);
    }
    Ok(new)
}
