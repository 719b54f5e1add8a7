//! Every storage port over in-memory maps, behind one lock. For tests and for trying things
//! out; the embedded default stores in SQLite.

mod agents;
mod retention;
mod rollups;
mod samples;
mod series;
mod tenants;
mod tokens;

use std::collections::{BTreeMap, HashMap};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use microdash_domain::rollup::{MINUTE_MS, bucket_start};
use microdash_domain::sample::SeriesKey;
use microdash_domain::{AgentId, ApiToken, Bucket, DedupeId, Resolution, Tenant, TenantId, Timestamp};
use microdash_usecases::ports::{AgentInfo, HealthCheck, HealthError, SeriesId, StoreError};

/// One series and its raw points (ms → value).
struct MemSeries {
    tenant: TenantId,
    key: SeriesKey,
    points: BTreeMap<i64, f64>,
}

/// Where the rollup job stands for a tenant: folded before `folded`, closed before `closing`.
#[derive(Clone, Copy)]
struct Progress {
    folded: i64,
    closing: i64,
}

#[derive(Default)]
struct Tables {
    tenants: BTreeMap<TenantId, Tenant>,
    tokens: BTreeMap<i64, (ApiToken, String)>,
    /// By series id.
    series: BTreeMap<i64, MemSeries>,
    index: HashMap<(TenantId, SeriesKey), i64>,
    /// Dedupe id → the time of the sample it came with.
    dedupe: HashMap<(TenantId, DedupeId), i64>,
    agents: HashMap<TenantId, BTreeMap<AgentId, AgentInfo>>,
    /// (series id, bucket start) → bucket.
    one_minute: BTreeMap<(i64, i64), Bucket>,
    five_minutes: BTreeMap<(i64, i64), Bucket>,
    progress: HashMap<TenantId, Progress>,
    /// (tenant, series id, minute) → version.
    dirty: BTreeMap<(TenantId, i64, i64), i64>,
    next_version: i64,
    next_id: i64,
}

/// Tenants, tokens, samples, rollups and agents in memory.
#[derive(Default)]
pub struct MemoryStore {
    tables: RwLock<Tables>,
}

impl MemoryStore {
    fn read(&self) -> RwLockReadGuard<'_, Tables> {
        self.tables.read().expect("memory store lock poisoned")
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables.write().expect("memory store lock poisoned")
    }
}

impl Tables {
    fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// The series `id` when it belongs to `tenant`.
    fn owned(&self, tenant: TenantId, id: SeriesId) -> Option<&MemSeries> {
        self.series.get(&id.0).filter(|s| s.tenant == tenant)
    }

    fn buckets(&self, resolution: Resolution) -> Result<&BTreeMap<(i64, i64), Bucket>, StoreError> {
        match resolution {
            Resolution::OneMinute => Ok(&self.one_minute),
            Resolution::FiveMinutes => Ok(&self.five_minutes),
            Resolution::Raw => Err(no_raw_buckets()),
        }
    }

    fn buckets_mut(
        &mut self,
        resolution: Resolution,
    ) -> Result<&mut BTreeMap<(i64, i64), Bucket>, StoreError> {
        match resolution {
            Resolution::OneMinute => Ok(&mut self.one_minute),
            Resolution::FiveMinutes => Ok(&mut self.five_minutes),
            Resolution::Raw => Err(no_raw_buckets()),
        }
    }

    /// Marks (series, minute of `ts`) dirty when that minute is closed for the tenant.
    fn mark_if_late(&mut self, tenant: TenantId, series: i64, ts: i64) {
        let closing = self.progress.get(&tenant).map_or(i64::MIN, |p| p.closing);
        let minute = bucket_start(Timestamp::from_millis(ts), MINUTE_MS).as_millis();
        if minute < closing {
            self.next_version += 1;
            self.dirty.insert((tenant, series, minute), self.next_version);
        }
    }
}

fn no_raw_buckets() -> StoreError {
    StoreError::Rejected { message: "raw data has no buckets".into(), source: None }
}

#[async_trait]
impl HealthCheck for MemoryStore {
    fn component(&self) -> &'static str {
        "store"
    }

    async fn check(&self) -> Result<(), HealthError> {
        Ok(())
    }
}
