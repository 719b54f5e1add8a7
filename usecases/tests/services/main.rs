//! Service tests against the in-process adapters: behaviour, not interactions.

mod admin;
mod auth;
mod ingest;
mod persist;
mod query;
mod scheduler;
