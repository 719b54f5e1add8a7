//! A tenant world over the memory store and a fake clock, for the history services.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use microdash_adapter_memory::{FakeClock, MemoryStore};
use microdash_domain::sample::SeriesKey;
use microdash_domain::tenant::NewTenant;
use microdash_domain::{AgentId, MetricName, Sample, Tags, TenantSlug, Timestamp, TokenId};
use microdash_usecases::ports::{SampleStore, TenantRepo};
use microdash_usecases::query::{QueryOptions, QueryOutcome, QueryParams};
use microdash_usecases::rollup::RollupReport;
use microdash_usecases::{Principal, QueryError, QueryService, RollupOptions, RollupService};

/// 2026-11-22T10:00:00Z, on an hour boundary.
pub const NOW: i64 = 1_795_341_600_000;
pub const MIN: i64 = 60_000;
pub const HOUR: i64 = 60 * MIN;
pub const DAY: i64 = 24 * HOUR;

pub struct World {
    pub store: Arc<MemoryStore>,
    pub clock: Arc<FakeClock>,
    pub alpha: Principal,
    pub beta: Principal,
}

pub fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

pub fn sample(metric: &str, agent: Option<&str>, at: i64, value: f64) -> Sample {
    Sample {
        series: SeriesKey {
            metric: MetricName::new(metric).unwrap(),
            agent: agent.map(|a| AgentId::new(a).unwrap()),
            tags: Tags::empty(),
        },
        value,
        timestamp: ts(at),
        dedupe_id: None,
    }
}

pub fn tagged(mut s: Sample, tags: &[(&str, &str)]) -> Sample {
    let map: BTreeMap<String, String> = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    s.series.tags = Tags::new(map).unwrap();
    s
}

impl World {
    /// Tenants `alpha` and `beta`, created 40 days before [`NOW`]; the clock shows [`NOW`].
    pub async fn new() -> Self {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(FakeClock::new(ts(NOW)));
        let mut principals = Vec::new();
        for slug in ["alpha", "beta"] {
            let new = NewTenant { slug: TenantSlug::new(slug).unwrap(), name: slug.into() };
            let t = store.create(new, ts(NOW - 40 * DAY)).await.unwrap();
            principals.push(Principal {
                tenant: t.id,
                tenant_slug: t.slug,
                token_id: TokenId::new(1),
                samples_per_minute: t.samples_per_minute,
                retention: t.retention,
            });
        }
        let beta = principals.pop().unwrap();
        let alpha = principals.pop().unwrap();
        Self { store, clock, alpha, beta }
    }

    pub fn advance(&self, ms: i64) {
        self.clock.advance(Duration::from_millis(ms as u64));
    }

    pub async fn insert(&self, who: &Principal, samples: &[Sample]) {
        for chunk in samples.chunks(10_000) {
            self.store.insert_batch(who.tenant, chunk).await.unwrap();
        }
    }

    pub fn rollups(&self) -> RollupService {
        let s = self.store.clone();
        RollupService::new(s.clone(), s.clone(), s.clone(), s, self.clock.clone(), RollupOptions::default())
    }

    pub async fn fold(&self) -> RollupReport {
        self.rollups().run_once().await.unwrap()
    }

    pub fn query_service(&self, options: QueryOptions) -> QueryService {
        let s = self.store.clone();
        QueryService::new(s.clone(), s.clone(), s.clone(), s, self.clock.clone(), options)
    }

    pub async fn query(&self, who: &Principal, params: QueryParams) -> Result<QueryOutcome, QueryError> {
        self.query_service(QueryOptions::default()).query(who, params).await
    }
}

pub fn params(name: &str, start: i64, end: i64) -> QueryParams {
    QueryParams { name: name.into(), start: Some(ts(start)), end: Some(ts(end)), ..Default::default() }
}
