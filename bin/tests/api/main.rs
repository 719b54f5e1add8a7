//! Whole-app tests: the real composition root on SQLite, on ephemeral ports, and the real
//! binary where a process boundary matters (signals, CLI against a running server).

mod cli;
mod compose;
mod helpers;
mod ingest;
mod live;
mod mqtt;
mod shutdown;
