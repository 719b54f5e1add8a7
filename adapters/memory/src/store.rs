//! Every storage port over in-memory maps, behind one lock. For tests and for trying things
//! out; the embedded default stores in SQLite.

mod agents;
mod samples;
mod tenants;
mod tokens;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use microdash_domain::sample::SeriesKey;
use microdash_domain::{AgentId, ApiToken, DedupeId, Tenant, TenantId};
use microdash_usecases::ports::{AgentInfo, HealthCheck};

#[derive(Default)]
struct Tables {
    tenants: BTreeMap<TenantId, Tenant>,
    tokens: BTreeMap<i64, (ApiToken, String)>,
    series: HashMap<TenantId, BTreeMap<SeriesKey, BTreeMap<i64, f64>>>,
    dedupe: HashSet<(TenantId, DedupeId)>,
    agents: HashMap<TenantId, BTreeMap<AgentId, AgentInfo>>,
    next_id: i64,
}

/// Tenants, tokens, samples and agents in memory.
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
}

#[async_trait]
impl HealthCheck for MemoryStore {
    fn component(&self) -> &'static str {
        "store"
    }

    async fn check(&self) -> Result<(), String> {
        Ok(())
    }
}
