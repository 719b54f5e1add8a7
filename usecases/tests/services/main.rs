//! Service tests against the in-process adapters: behaviour, not interactions.

mod admin;
mod auth;
mod export;
mod fixture;
mod ingest;
mod live;
mod persist;
mod query;
mod retention;
mod rollup;
mod scheduler;
