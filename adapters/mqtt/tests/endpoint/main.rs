//! The MQTT device endpoint over real sockets, with real MQTT clients.

mod bad_messages;
mod helpers;
mod holding;
mod ingest;
mod isolation;
mod keep_alive;
mod mosquitto_clients;
mod mqtt5;
mod ports;
mod shutdown;
#[path = "../common/stored.rs"]
mod stored;
mod tls;
