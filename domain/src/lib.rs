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
//! - [`mqtt`]: MQTT ingest topics and their payloads, validated by the [`wire`] rules.
//! - [`rollup`]: 1m/5m bucket maths (count, sum, min, max, last) and min/max downsampling.
//! - [`resolution`]: raw/1m/5m and how a query picks one.
//! - [`retention`]: the rules a tenant's retention follows, and the `24h`/`7d` syntax.
//! - [`agent_status`]: an agent's learnt reporting interval and online/offline status.
//! - [`export`]: the frozen query a signed CSV export link stands for.
//! - [`page`]: the cursor that pages through the series of a query.

pub mod agent_status;
pub mod duration;
pub mod export;
pub mod hex;
pub mod mqtt;
pub mod page;
pub mod resolution;
pub mod retention;
pub mod rollup;
pub mod sample;
pub mod tenant;
pub mod time;
pub mod token;
pub mod validation;
pub mod wire;

pub use mqtt::MetricsTopic;
pub use resolution::Resolution;
pub use rollup::Bucket;
pub use sample::{AgentId, DedupeId, MetricName, Sample, Tags};
pub use tenant::{Retention, Tenant, TenantId, TenantSlug};
pub use time::Timestamp;
pub use token::{ApiToken, TokenId};
pub use validation::{Field, ItemError};
