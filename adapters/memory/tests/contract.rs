//! The memory adapters against the port contract suite.

use std::sync::Arc;

use microdash_adapter_memory::{
    MemoryIngestQueue, MemoryLiveBus, MemoryRateLimiter, MemoryStore, SystemClock,
};
use microdash_usecases::ports::contract;

#[tokio::test]
async fn tenant_repo_contract() {
    contract::tenant_repo_creates_finds_and_refuses_duplicate_slugs(&MemoryStore::default()).await;
}

#[tokio::test]
async fn token_repo_contract() {
    let s = MemoryStore::default();
    contract::token_repo_finds_active_tokens_by_hash_and_honours_revocation(&s, &s).await;
}

#[tokio::test]
async fn sample_store_round_trip_contract() {
    let s = MemoryStore::default();
    contract::sample_store_round_trips_per_series_and_isolates_tenants(&s, &s).await;
}

#[tokio::test]
async fn sample_store_range_and_limit_contract() {
    let s = MemoryStore::default();
    contract::sample_store_query_honours_range_and_limit(&s, &s).await;
}

#[tokio::test]
async fn sample_store_dedupe_contract() {
    let s = MemoryStore::default();
    contract::sample_store_dedupes_per_tenant_and_replaces_same_millisecond(&s, &s).await;
}

#[tokio::test]
async fn agent_registry_contract() {
    let s = MemoryStore::default();
    contract::agent_registry_tracks_last_seen_and_counts_per_tenant(&s, &s).await;
}

#[tokio::test]
async fn live_bus_contract() {
    contract::live_bus_delivers_to_the_tenants_subscribers_only(&MemoryLiveBus::new(16)).await;
}

#[tokio::test]
async fn rate_limiter_contract() {
    contract::rate_limiter_grants_up_to_the_budget_then_denies(&MemoryRateLimiter::new(Arc::new(
        SystemClock,
    )))
    .await;
}

#[tokio::test]
async fn ingest_queue_contract() {
    let q = MemoryIngestQueue::new(1000);
    contract::ingest_queue_delivers_every_batch_in_order(&q, &q).await;
}
