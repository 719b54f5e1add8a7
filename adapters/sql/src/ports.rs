//! The storage ports on SQL, written once for both backends. This file and the files under
//! `ports/` are compiled twice, as `sqlite::ports` and `mariadb::ports` (each backend module
//! mounts them with `#[path]`), each time against the names its backend module defines:
//! `Store` (the store, with its `read` and `write` pools and its series-id cache),
//! `Connection` (the driver's connection) and `DIALECT`. SQL that differs between the
//! dialects comes from [`Dialect`](crate::dialect::Dialect); nothing here names a database.
//! Not for connecting or for settings: those are the backend modules' own.
//!
//! Why compiled twice rather than generic: code generic over `sqlx::Database` needs about a
//! dozen bounds (`for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>`, and `Encode`,
//! `Decode` and `Type` for every column type), which Rust does not carry from one trait to
//! its users, so they would stand on every impl here; a `macro_rules!` body is neither
//! formatted nor checked before expansion. Each copy here is plain code on concrete types.
//!
//! # Layout
//! - `tenants`, `tokens`, `agents`, `health`: the small ports.
//! - `samples`: [`SampleStore`](microdash_usecases::ports::SampleStore); the steps of a batch
//!   are `dedupe` (claiming dedupe ids) and `series_ids` (finding or creating series ids).
//! - `series_reader`, `rollups`, `progress`, `retention`: history, rollups and expiry.

#[path = "ports/agents.rs"]
mod agents;
#[path = "ports/dedupe.rs"]
mod dedupe;
#[path = "ports/health.rs"]
mod health;
#[path = "ports/progress.rs"]
mod progress;
#[path = "ports/retention.rs"]
pub(crate) mod retention;
#[path = "ports/rollups.rs"]
pub(crate) mod rollups;
#[path = "ports/samples.rs"]
pub(crate) mod samples;
#[path = "ports/series_ids.rs"]
mod series_ids;
#[path = "ports/series_reader.rs"]
pub(crate) mod series_reader;
#[path = "ports/tenants.rs"]
mod tenants;
#[path = "ports/tokens.rs"]
mod tokens;

use std::borrow::Cow;
use std::collections::HashSet;

use microdash_domain::TenantId;
use microdash_usecases::ports::{SeriesId, StoreError};
use sqlx::AssertSqlSafe;

use super::{Connection, DIALECT, Store};
use crate::dialect::repeated_sql;
use crate::error::SqlxResultExt;

/// Series per statement where a statement lists series ids: 500 placeholders, well below
/// both databases' limits, and few enough texts (one per list length) for the
/// prepared-statement cache.
const SERIES_PER_STATEMENT: usize = 500;

/// The `FROM` clause of a read of `table` (aliased `alias`) for listed series of one tenant,
/// up to and including the opening parenthesis of the series id list. When the dialect
/// [joins `series`](crate::dialect::Dialect::joins_series) it binds the tenant first, and the
/// list may hold any ids; otherwise it binds nothing and the list must hold only the ids
/// [`listable`] returns.
fn series_rows_from(table: &str, alias: &str) -> String {
    if DIALECT.joins_series() {
        format!(
            "FROM series s JOIN {table} {alias} ON {alias}.series_id = s.id WHERE s.tenant_id = ? AND s.id IN ("
        )
    } else {
        format!("FROM {table} {alias} WHERE {alias}.series_id IN (")
    }
}

/// The ids among `series` that a statement starting with [`series_rows_from`] may list: all of
/// them when the statement checks the tenant itself, otherwise those owned by `tenant`.
async fn listable<'s>(
    conn: &mut Connection,
    tenant: TenantId,
    series: &'s [SeriesId],
) -> Result<Cow<'s, [SeriesId]>, StoreError> {
    if DIALECT.joins_series() {
        return Ok(Cow::Borrowed(series));
    }
    owned_ids(conn, tenant, series).await.map(Cow::Owned)
}

/// The ids among `series` that belong to `tenant`, in the order given.
async fn owned_ids(
    conn: &mut Connection,
    tenant: TenantId,
    series: &[SeriesId],
) -> Result<Vec<SeriesId>, StoreError> {
    let mut owned = HashSet::new();
    for group in series.chunks(SERIES_PER_STATEMENT) {
        let sql =
            repeated_sql("SELECT id FROM series WHERE tenant_id = ? AND id IN (", "?", group.len(), ")");
        let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).bind(tenant.get());
        for id in group {
            q = q.bind(id.0);
        }
        owned.extend(q.fetch_all(&mut *conn).await.or_store("checking series")?);
    }
    Ok(series.iter().copied().filter(|id| owned.contains(&id.0)).collect())
}
