//! The MQTT options: the device endpoint (`serve`, and `api` when `--mqtt-addr` is given) and
//! the bridge from an external broker (`bridge`), mapped onto the adapter's option structs.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use microdash_adapter_mqtt::{BridgeOptions, EndpointOptions, TlsOptions};

/// The endpoint's address when `--mqtt-addr` is not given.
pub const DEFAULT_MQTT_ADDR: &str = "127.0.0.1:1883";

/// Ports tried after the default one when it is busy: 1883 is often a local Mosquitto's, and
/// every test server of a parallel test run takes one more.
const PORT_FALLBACK: u16 = 100;

/// A password whose `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// MQTT options.
#[derive(Debug, Clone, Args)]
pub struct MqttArgs {
    /// MQTT device endpoint: devices publish to `metrics/{tenant}/{agent}[/{metric}]` with the
    /// tenant slug as user name and an API token as password (`serve` always listens, `api`
    /// when this is given). Default 127.0.0.1:1883; when that port is taken (often by a local
    /// Mosquitto), `serve` says so and uses the next free port. An address given here must be free.
    #[arg(long, env = "MICRODASH_MQTT_ADDR")]
    pub mqtt_addr: Option<SocketAddr>,

    /// Also serve MQTT over TLS on this address (8883 is customary); needs --mqtt-tls-cert and
    /// --mqtt-tls-key.
    #[arg(long, env = "MICRODASH_MQTTS_ADDR")]
    pub mqtts_addr: Option<SocketAddr>,

    /// PEM file with the TLS listener's certificate, then its chain.
    #[arg(long, env = "MICRODASH_MQTT_TLS_CERT")]
    pub mqtt_tls_cert: Option<PathBuf>,

    /// PEM file with the TLS listener's private key.
    #[arg(long, env = "MICRODASH_MQTT_TLS_KEY")]
    pub mqtt_tls_key: Option<PathBuf>,

    /// `bridge`: the external broker to take metrics from, `mqtt://host[:port]` or
    /// `mqtts://host[:port]`. The broker must allow each device to write only under
    /// `metrics/<its tenant>/` (see deploy/mosquitto).
    #[arg(long, env = "MICRODASH_MQTT_URL")]
    pub mqtt_url: Option<String>,

    /// `bridge`: user name at the broker.
    #[arg(long, env = "MICRODASH_MQTT_USERNAME")]
    pub mqtt_username: Option<String>,

    /// `bridge`: password at the broker.
    #[arg(long, env = "MICRODASH_MQTT_PASSWORD", hide_env_values = true)]
    pub mqtt_password: Option<Secret>,

    /// `bridge`: client id at the broker. Keep it stable for each bridge process, so the
    /// broker keeps its session, and what arrives while it restarts. Default:
    /// `microdash-bridge-<host name>`.
    #[arg(long, env = "MICRODASH_MQTT_CLIENT_ID")]
    pub mqtt_client_id: Option<String>,

    /// `bridge`: shared-subscription group (`$share/<group>/metrics/#`); the bridges of one
    /// group split the messages between them.
    #[arg(long, env = "MICRODASH_MQTT_SHARE_GROUP", default_value = "microdash")]
    pub mqtt_share_group: String,

    /// `bridge` with `mqtts://`: PEM file of the CAs to trust (default: the system's).
    #[arg(long, env = "MICRODASH_MQTT_CA_FILE")]
    pub mqtt_ca_file: Option<PathBuf>,
}

impl MqttArgs {
    /// Checks the combination of options.
    ///
    /// # Errors
    /// A message saying which option to change.
    pub fn validate(&self) -> anyhow::Result<()> {
        let tls = [self.mqtts_addr.is_some(), self.mqtt_tls_cert.is_some(), self.mqtt_tls_key.is_some()];
        if tls.contains(&true) && tls.contains(&false) {
            anyhow::bail!("MQTT over TLS needs all of --mqtts-addr, --mqtt-tls-cert and --mqtt-tls-key");
        }
        if let Some(url) = &self.mqtt_url {
            BridgeOptions::from_url(url).map_err(|e| anyhow::anyhow!("--mqtt-url {e}"))?;
        }
        if self.mqtt_share_group.is_empty() || self.mqtt_share_group.contains(['/', '+', '#']) {
            anyhow::bail!("--mqtt-share-group must be a name without '/', '+' or '#'");
        }
        Ok(())
    }

    /// The device endpoint's options; `None` when this process runs none (`always` is for
    /// `serve`, which listens on the default address when none is given).
    pub fn endpoint(&self, always: bool, shutdown_grace: Duration) -> Option<EndpointOptions> {
        let (addr, fallback) = match self.mqtt_addr {
            Some(addr) => (addr, 0),
            None if always => (DEFAULT_MQTT_ADDR.parse().expect("a valid default address"), PORT_FALLBACK),
            None => return None,
        };
        let mut options = EndpointOptions::new(addr);
        options.port_fallback = fallback;
        options.shutdown_grace = shutdown_grace;
        if let (Some(addr), Some(cert), Some(key)) =
            (self.mqtts_addr, &self.mqtt_tls_cert, &self.mqtt_tls_key)
        {
            options.tls = Some(TlsOptions { addr, cert: cert.clone(), key: key.clone() });
        }
        Some(options)
    }

    /// The bridge's options; `None` without `--mqtt-url`.
    ///
    /// # Errors
    /// A malformed `--mqtt-url`.
    pub fn bridge(&self, shutdown_grace: Duration) -> anyhow::Result<Option<BridgeOptions>> {
        let Some(url) = &self.mqtt_url else { return Ok(None) };
        let mut options = BridgeOptions::from_url(url).map_err(|e| anyhow::anyhow!("--mqtt-url {e}"))?;
        if let Some(user) = &self.mqtt_username {
            let password = self.mqtt_password.as_ref().map_or_else(String::new, |p| p.0.clone());
            options.credentials = Some((user.clone(), password));
        }
        options.client_id = self.mqtt_client_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_owned());
            format!("microdash-bridge-{}", host.filter(|h| !h.is_empty()).unwrap_or_else(|| "local".into()))
        });
        options.share_group = self.mqtt_share_group.clone();
        options.ca_file = self.mqtt_ca_file.clone();
        options.shutdown_grace = shutdown_grace;
        Ok(Some(options))
    }
}
