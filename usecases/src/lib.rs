//! Application services of microdash and the ports (traits) they drive. Nothing here knows
//! about SQL, Redis, HTTP or MQTT: adapters implement the ports, `bin` wires them.
//!
//! # Layout
//! - [`ports`]: one trait per capability, named by role (`SampleStore`, `IngestQueue`, ...).
//! - [`auth`]: token → tenant, with a short cache that still honours revocation within 1 s.
//! - [`ingest`]: validate, enforce the quota, enqueue; the answer a client gets.
//! - [`persist`]: the worker loop from the queue into the store, the agent registry and the live bus.
//! - [`query`]: what a tenant can read back: history at the resolution that suits, agents.
//! - [`export`]: CSV exports behind signed, expiring links.
//! - [`rollup`]: the job folding raw samples into 1m/5m buckets, late data included.
//! - [`retention`]: the job deleting expired data in small chunks.
//! - [`live`]: live streams and long-polls of stored samples, with resume and stream tickets.
//! - [`health`]: readiness of the dependencies.
//! - [`admin`]: tenants and tokens, for the CLI.
//! - [`scheduler`]: periodic jobs, run by the one process holding the leader lock.
//! - [`signing`]: HMAC signatures for links and tickets that must work without a token.
//! - [`ErrorChain`]: an error and its causes on one line, for the log line at a boundary.

pub mod admin;
pub mod auth;
mod error_chain;
pub mod export;
pub mod health;
mod history_reader;
pub mod ingest;
pub mod live;
pub mod persist;
pub mod ports;
pub mod query;
pub mod retention;
pub mod rollup;
pub mod scheduler;
pub mod signing;

pub use admin::{AdminError, AdminService};
pub use auth::{AuthError, AuthService, Principal};
pub use error_chain::ErrorChain;
pub use export::{ExportError, ExportOptions, ExportService};
pub use health::{ComponentStatus, HealthService};
pub use ingest::{AdmissionError, IngestError, IngestLimits, IngestReceipt, IngestService, ParseError};
pub use live::{LiveError, LiveOptions, LiveService, Viewer};
pub use persist::{PersistOptions, PersistService};
pub use query::{QueryError, QueryOptions, QueryService};
pub use retention::{RetentionOptions, RetentionService};
pub use rollup::{RollupOptions, RollupService};
pub use scheduler::{Job, JobError, JobRef, SchedulerOptions, SchedulerService};
pub use signing::Signer;
