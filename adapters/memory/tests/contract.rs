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
async fn live_bus_numbering_contract() {
    contract::live_bus_numbers_each_tenants_messages_consecutively(&MemoryLiveBus::new(16)).await;
}

#[tokio::test]
async fn rate_limiter_contract() {
    let limiter = MemoryRateLimiter::new(Arc::new(SystemClock));
    contract::rate_limiter_grants_up_to_the_budget_then_denies(&limiter).await;
    contract::rate_limiter_refunds_up_to_the_budget(&limiter).await;
}

#[tokio::test]
async fn ingest_queue_contract() {
    let q = MemoryIngestQueue::new(1000);
    contract::ingest_queue_delivers_every_batch_in_order(&q, &q).await;
}

#[tokio::test]
async fn series_reader_contract() {
    let s = MemoryStore::default();
    contract::series_reader_selects_orders_and_isolates(&s).await;
    contract::series_reader_reads_points_per_series_with_a_limit(&s).await;
}

#[tokio::test]
async fn rollup_store_contract() {
    contract::rollup_store_replaces_buckets_and_isolates_tenants(&MemoryStore::default()).await;
    contract::rollup_store_folds_raw_samples_like_the_domain(&MemoryStore::default()).await;
}

#[tokio::test]
async fn rollup_progress_contract() {
    let s = MemoryStore::default();
    contract::rollup_progress_closes_minutes_and_marks_late_samples_dirty(&s).await;
    contract::rollup_progress_absorbs_late_samples_exactly_once(&s).await;
}

#[tokio::test]
async fn retention_store_contract() {
    contract::retention_store_deletes_in_chunks_and_keeps_dirty_minutes(&MemoryStore::default()).await;
}

#[tokio::test]
async fn tenant_retention_and_agent_interval_contract() {
    let s = MemoryStore::default();
    contract::tenant_repo_sets_retention(&s).await;
    contract::agent_registry_learns_intervals_and_finds_one_agent(&s).await;
}
