//! Pure types and rules of microdash: what a tenant, a token and a sample are, and what makes a
//! sample valid. No I/O, no async, nothing that knows about a database, a queue or HTTP.
//!
//! # Layout
//! - [`tenant`]: tenants, their quotas and retention.
//! - [`token`]: API tokens (only their hash is ever stored) and their recognisable prefix.
//! - [`time`]: [`time::Timestamp`], milliseconds since the Unix epoch.
//! - [`sample`]: metric names, agent ids, tags, dedupe ids and the [`sample::Sample`] itself.
//! - [`validation`]: the per-item, per-field errors that drive a 422 or an MQTT log line.
//! - [`wire`]: the JSON shape samples arrive in (HTTP today, MQTT and the agent later).

pub mod sample;
pub mod tenant;
pub mod time;
pub mod token;
pub mod validation;
pub mod wire;

pub use sample::{AgentId, DedupeId, MetricName, Sample, Tags};
pub use tenant::{Retention, Tenant, TenantId, TenantSlug};
pub use time::Timestamp;
pub use token::{ApiToken, TokenId};
pub use validation::{Field, ItemError};
