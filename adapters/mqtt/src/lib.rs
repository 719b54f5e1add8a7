//! MQTT for microdash: the ingest-only device endpoint and the bridge from an external broker.
//! Both end in the same ingest use case as HTTP, with the same validation and quotas.
//!
//! The endpoint speaks MQTT 3.1.1 and 5 through the rumqtt family's packet codec rather than
//! embedding rumqttd, because rumqttd cannot tie a PUBLISH to the connection that sent it and
//! so cannot keep tenants apart. Here every connection is authenticated (user name = tenant
//! slug, password = API token), may publish only under `metrics/{its tenant}/...`, may not
//! subscribe, and gets a PUBACK only once its message is in the ingest queue.
//!
//! Not for: a general broker (use Mosquitto, EMQX or rumqttd, and the bridge).
//!
//! # Layout
//! - [`endpoint`]: [`MqttEndpoint`], its listeners, accept loop and shutdown.
//! - `connection`: one client, CONNECT and authentication, then the session loop.
//! - `protocol`: the packets, over `rumqttc::mqttbytes` (3.1.1) and `rumqttc::v5::mqttbytes` (5).
//! - `coalescer`: many messages of a sender into one queue entry; PUBACK when it is queued.
//! - `sessions`: client ids per tenant, take-over, persistent-session bookkeeping.
//! - `tls`: rustls server configuration from PEM files.
//! - [`bridge`]: [`Bridge`], rumqttc on a shared subscription at an external broker.
//! - [`options`]: [`EndpointOptions`], [`BridgeOptions`], [`CoalesceOptions`].
//! - [`telemetry`]: [`MqttMetrics`], counters and rate-limited log lines per event.
//! - `drop_reason`: [`DropReason`], why a message was not stored (counter label, PUBACK reason).

pub mod bridge;
mod coalescer;
mod connection;
mod drop_reason;
pub mod endpoint;
pub mod options;
mod protocol;
mod sessions;
pub mod telemetry;
mod tls;

pub use bridge::{Bridge, BridgeError};
pub use drop_reason::DropReason;
pub use endpoint::{BindError, MqttEndpoint};
pub use options::{BridgeOptions, CoalesceOptions, EndpointOptions, TlsOptions};
pub use telemetry::{MqttMetrics, MqttMetricsRef};
