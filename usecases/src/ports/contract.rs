//! The port contract suite: behaviour every adapter of a port must show, written once and run
//! by each adapter crate's tests (memory, SQLite, MariaDB, Redis) so that the embedded and the
//! production deployments behave the same.
//!
//! An adapter's test file does not list the contract functions: it calls one macro per port
//! family with a factory, and the macro generates one `#[tokio::test]` per function, so a
//! function added here runs against every adapter without anyone remembering to add it.
//!
//! ```text
//! microdash_usecases::storage_contract!(store => let store = MemoryStore::default());
//! microdash_usecases::live_bus_contract!(bus => let bus = MemoryLiveBus::new(16));
//! microdash_usecases::leader_lock_contract!(a, b => let a = MemoryLeaderLock::new(); let b = a.handle("b"));
//! ```
//!
//! The factory is one or more statements that bind the names before `=>`; they run at the
//! start of every generated test, so each test gets fresh adapters (and whatever guard the
//! statements bind, such as a temporary directory, lives until the test ends).
//!
//! Each function panics with a message saying which rule broke. Functions that need tenants
//! create their own with unique slugs, so they can share one database.
//!
//! # Layout
//! One file per port: `tenant_repo`, `token_repo`, `sample_store`, `agent_registry`,
//! `series_reader`, `rollup_store`, `rollup_progress`, `retention_store` (the storage family,
//! each taking one [`Storage`]), `live_bus`, `rate_limiter`, `ingest_queue`, `leader_lock`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use microdash_domain::rollup::{MINUTE_MS, fold, fold_into_buckets};
use microdash_domain::sample::SeriesKey;
use microdash_domain::tenant::NewTenant;
use microdash_domain::token::TokenHash;
use microdash_domain::{
    AgentId, Bucket, DedupeId, MetricName, Resolution, Retention, Sample, Tags, Tenant, TenantId, TenantSlug,
    Timestamp,
};

use super::*;

mod agent_registry;
mod ingest_queue;
mod leader_lock;
mod live_bus;
mod rate_limiter;
mod retention_store;
mod rollup_progress;
mod rollup_store;
mod sample_store;
mod series_reader;
mod tenant_repo;
mod token_repo;

pub use agent_registry::*;
pub use ingest_queue::*;
pub use leader_lock::*;
pub use live_bus::*;
pub use rate_limiter::*;
pub use retention_store::*;
pub use rollup_progress::*;
pub use rollup_store::*;
pub use sample_store::*;
pub use series_reader::*;
pub use tenant_repo::*;
pub use token_repo::*;

/// Every storage port on one store, as every storage adapter (memory, SQLite, MariaDB)
/// provides them. The storage contract functions take one, and call a port by its trait name
/// where two ports share a method name.
pub trait Storage:
    TenantRepo
    + TokenRepo
    + SampleStore
    + SeriesReader
    + RollupStore
    + RollupProgress
    + RetentionStore
    + AgentRegistry
{
}

impl<S> Storage for S where
    S: TenantRepo
        + TokenRepo
        + SampleStore
        + SeriesReader
        + RollupStore
        + RollupProgress
        + RetentionStore
        + AgentRegistry
{
}

/// The time the contract's tenants are created at.
const T0: i64 = 1_795_000_000_000;

/// A 5-minute boundary after `T0`.
const M0: i64 = 1_795_000_200_000;

fn unique_slug(prefix: &str) -> TenantSlug {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    TenantSlug::new(format!("{prefix}-{}-{nanos}-{n}", std::process::id())).unwrap()
}

/// Creates a tenant with a unique slug.
pub async fn new_tenant(tenants: &dyn TenantRepo, prefix: &str) -> Tenant {
    let slug = unique_slug(prefix);
    tenants
        .create(NewTenant { name: format!("Tenant {slug}"), slug }, Timestamp::from_millis(T0))
        .await
        .expect("create tenant")
}

/// A sample of `metric` for `agent` at `T0 + offset_ms`.
pub fn sample(metric: &str, agent: Option<&str>, offset_ms: i64, value: f64) -> Sample {
    Sample {
        series: SeriesKey {
            metric: MetricName::new(metric).unwrap(),
            agent: agent.map(|a| AgentId::new(a).unwrap()),
            tags: Tags::empty(),
        },
        value,
        timestamp: Timestamp::from_millis(T0 + offset_ms),
        dedupe_id: None,
    }
}

fn with_dedupe(mut s: Sample, id: &str) -> Sample {
    s.dedupe_id = Some(DedupeId::new(id).unwrap());
    s
}

fn with_tags(mut s: Sample, tags: &[(&str, &str)]) -> Sample {
    let map: BTreeMap<String, String> = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    s.series.tags = Tags::new(map).unwrap();
    s
}

fn all(metric: &str) -> RawQuery {
    RawQuery {
        metric: MetricName::new(metric).unwrap(),
        agent: None,
        tags: Tags::empty(),
        start: Timestamp::from_millis(T0 - 86_400_000),
        end: Timestamp::from_millis(T0 + 86_400_000),
        limit: 10_000,
    }
}

fn values(r: &RawQueryResult) -> Vec<f64> {
    r.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).collect()
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn filter(metric: &str) -> SeriesFilter {
    SeriesFilter { metric: MetricName::new(metric).unwrap(), agent: None, tags: Tags::empty() }
}

/// A sample `offset_ms` after [`M0`].
fn s_at(metric: &str, agent: Option<&str>, offset_ms: i64, value: f64) -> Sample {
    sample(metric, agent, M0 - T0 + offset_ms, value)
}

async fn only_series(store: &dyn Storage, t: TenantId, metric: &str) -> SeriesId {
    let all = store.series(t, &filter(metric)).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].id
}

async fn points(store: &dyn Storage, t: TenantId, id: SeriesId) -> Vec<(Timestamp, f64)> {
    let read = store.read_points(t, &[id], at(0), at(i64::MAX), None).await.unwrap();
    read.into_iter().flat_map(|(_, p)| p).collect()
}

fn bucket(values: &[(i64, f64)]) -> Bucket {
    fold(values.iter().map(|&(t, v)| (at(t), v))).unwrap()
}

/// Generates one `#[tokio::test]` per listed contract function, in a module of its own; each
/// test runs the factory statements, then the function with a reference to each bound name.
#[doc(hidden)]
#[macro_export]
macro_rules! __contract_tests {
    ($module:ident [$($name:ident),* $(,)?] $($arg:ident),+ => $($setup:stmt);+ $(;)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $crate::__contract_tests!(@each [$($name),*] ($($arg),+) { $($setup;)+ });
        }
    };
    // One test at a time: the factory and the names cannot repeat inside the list's repetition.
    (@each [$name:ident $(, $rest:ident)*] $args:tt $setup:tt) => {
        $crate::__contract_tests!(@one $name $args $setup);
        $crate::__contract_tests!(@each [$($rest),*] $args $setup);
    };
    (@each [] $args:tt $setup:tt) => {};
    (@one $name:ident ($($arg:ident),+) { $($setup:stmt;)+ }) => {
        #[tokio::test]
        async fn $name() {
            $($setup;)+
            $crate::ports::contract::$name($(&$arg),+).await;
        }
    };
}

/// The storage contract (every storage port) against the store the statements bind to
/// `$store`: `storage_contract!(store => let store = MemoryStore::default());`.
#[macro_export]
macro_rules! storage_contract {
    ($($t:tt)+) => {
        $crate::__contract_tests!(
            storage_contract
            [
                tenant_repo_creates_finds_and_refuses_duplicate_slugs,
                tenant_repo_sets_retention,
                token_repo_finds_active_tokens_by_hash_and_honours_revocation,
                sample_store_round_trips_per_series_and_isolates_tenants,
                sample_store_query_honours_range_and_limit,
                sample_store_dedupes_per_tenant_and_replaces_same_millisecond,
                agent_registry_tracks_last_seen_and_counts_per_tenant,
                agent_registry_learns_intervals_and_finds_one_agent,
                series_reader_selects_orders_and_isolates,
                series_reader_reads_points_per_series_with_a_limit,
                rollup_store_replaces_buckets_and_isolates_tenants,
                rollup_store_folds_raw_samples_like_the_domain,
                rollup_progress_closes_minutes_and_marks_late_samples_dirty,
                rollup_progress_absorbs_late_samples_exactly_once,
                retention_store_deletes_in_chunks_and_keeps_dirty_minutes,
            ]
            $($t)+
        );
    };
}

/// The [`LiveBus`](crate::ports::LiveBus) contract: `live_bus_contract!(bus => let bus = ..);`.
#[macro_export]
macro_rules! live_bus_contract {
    ($($t:tt)+) => {
        $crate::__contract_tests!(
            live_bus_contract
            [
                live_bus_delivers_to_the_tenants_subscribers_only,
                live_bus_numbers_each_tenants_messages_consecutively,
            ]
            $($t)+
        );
    };
}

/// The [`RateLimiter`](crate::ports::RateLimiter) contract:
/// `rate_limiter_contract!(limiter => let limiter = ..);`.
#[macro_export]
macro_rules! rate_limiter_contract {
    ($($t:tt)+) => {
        $crate::__contract_tests!(
            rate_limiter_contract
            [
                rate_limiter_grants_up_to_the_budget_then_denies,
                rate_limiter_refunds_up_to_the_budget,
            ]
            $($t)+
        );
    };
}

/// The [`IngestQueue`](crate::ports::IngestQueue) contract with its consumer:
/// `ingest_queue_contract!(queue, consumer => ..);` (the same name twice where one value is
/// both)..
#[macro_export]
macro_rules! ingest_queue_contract {
    ($($t:tt)+) => {
        $crate::__contract_tests!(
            ingest_queue_contract
            [
                ingest_queue_delivers_every_batch_in_order,
            ]
            $($t)+
        );
    };
}

/// The [`LeaderLock`](crate::ports::LeaderLock) contract with two contenders for one lock:
/// `leader_lock_contract!(a, b => let a = ..; let b = ..);`.
#[macro_export]
macro_rules! leader_lock_contract {
    ($($t:tt)+) => {
        $crate::__contract_tests!(
            leader_lock_contract
            [
                leader_lock_admits_one_holder_that_renews_its_lease,
                leader_lock_lease_that_is_not_renewed_passes_to_another,
                leader_lock_release_frees_the_lock_only_for_its_holder,
            ]
            $($t)+
        );
    };
}

#[cfg(test)]
mod tests {
    /// The source of the contract: every file's public async functions must be listed in the
    /// macros above, or an adapter would silently skip them.
    const SOURCES: [&str; 13] = [
        include_str!("contract.rs"),
        include_str!("contract/agent_registry.rs"),
        include_str!("contract/ingest_queue.rs"),
        include_str!("contract/leader_lock.rs"),
        include_str!("contract/live_bus.rs"),
        include_str!("contract/rate_limiter.rs"),
        include_str!("contract/retention_store.rs"),
        include_str!("contract/rollup_progress.rs"),
        include_str!("contract/rollup_store.rs"),
        include_str!("contract/sample_store.rs"),
        include_str!("contract/series_reader.rs"),
        include_str!("contract/tenant_repo.rs"),
        include_str!("contract/token_repo.rs"),
    ];

    #[test]
    fn every_contract_function_is_run_by_a_family_macro() {
        let macros = &SOURCES[0][SOURCES[0].find("macro_rules! __contract_tests").expect("the macros")..];
        let functions: Vec<&str> = SOURCES
            .iter()
            .flat_map(|source| source.lines())
            .filter_map(|line| line.strip_prefix("pub async fn "))
            .map(|rest| rest.split(['(', '<']).next().unwrap_or_default())
            .filter(|name| *name != "new_tenant")
            .collect();
        assert!(functions.len() >= 20, "found the contract functions: {functions:?}");
        let listed = |name: &str| macros.lines().any(|line| line.trim().trim_end_matches(',') == name);
        let missing: Vec<_> = functions.iter().filter(|name| !listed(name)).collect();
        assert!(missing.is_empty(), "contract functions no macro runs: {missing:?}");
    }
}
