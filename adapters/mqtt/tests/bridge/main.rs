//! The bridge: from an in-process rumqttd, from the machine's Mosquitto (127.0.0.1:1883), and
//! from a Mosquitto started with the shipped `deploy/mosquitto` configuration.

mod harness;
mod mosquitto;
mod rumqttd;
#[path = "../common/stored.rs"]
mod stored;
