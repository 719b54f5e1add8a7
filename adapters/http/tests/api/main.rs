//! The HTTP API in process (poem's `TestClient`) over the memory adapters.

mod agents;
mod exports;
mod helpers;
mod ingest;
mod probes;
mod query;
mod stream;
