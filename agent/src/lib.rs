//! microdash edge agent: reads host metrics from `/proc` and publishes one JSON batch per
//! interval over MQTT (QoS 1) to `metrics/{tenant}/{agent_id}`, spooling to disk while the
//! broker is unreachable. Not for: anything server-side; it shares only the wire shape with
//! the server, through `microdash_domain::wire`.
//!
//! # Layout
//! - [`config`]: flags, `MICRODASH_AGENT_*` environment and TOML file.
//! - [`collect`]: `/proc` parsers and collectors.
//! - [`batch`]: points → wire samples with time-ordered dedupe ids.
//! - [`spool`]: the bounded on-disk spool.
//! - [`publish`]: MQTT session, outbox, backoff, TLS.
//! - [`app`]: the main loop and shutdown.

pub mod app;
pub mod batch;
pub mod collect;
pub mod config;
pub mod publish;
pub mod spool;
