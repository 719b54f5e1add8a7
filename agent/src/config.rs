//! Agent configuration: command-line flags, `MICRODASH_AGENT_*` environment variables and an
//! optional TOML file (`--config`). Precedence: flag > environment > file > built-in default.
//! Not for: opening connections or files (the caller does that with the validated values).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use microdash_domain::{AgentId, Tags, TenantSlug};
use serde::Deserialize;

use crate::collect::CollectorKind;

/// The shortest collection interval: below it the agent's own cost stops being negligible.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// A secret whose `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

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

/// An interval such as `10s`, `500ms`, `2m`, or a bare number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval(pub Duration);

impl FromStr for Interval {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (n, unit) = s.split_at(split);
        let n: u64 = n.parse().map_err(|_| format!("'{s}' is not an interval like 10s, 500ms or 2m"))?;
        let d = match unit {
            "" | "s" => Duration::from_secs(n),
            "ms" => Duration::from_millis(n),
            "m" => Duration::from_secs(n * 60),
            _ => return Err(format!("unknown unit '{unit}' in '{s}'; use ms, s or m")),
        };
        Ok(Self(d))
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(n) => Ok(Self(Duration::from_secs(n))),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A static `key=value` tag added to every sample.
fn parse_tag(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .ok_or_else(|| format!("'{s}' is not a tag; write key=value"))
}

/// microdash edge agent: collects host metrics from /proc and publishes them over MQTT.
#[derive(Debug, Clone, Parser)]
#[command(name = "microdash-agent", version)]
pub struct Config {
    /// TOML file with any of the options below (snake_case keys, e.g. `tenant = "acme"`);
    /// flags and environment variables override it.
    #[arg(long, env = "MICRODASH_AGENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Broker URL: `mqtt://host:port` or `mqtts://host:port` (TLS).
    #[arg(long, env = "MICRODASH_AGENT_BROKER", default_value = "mqtt://127.0.0.1:1883")]
    pub broker: String,
    /// Tenant slug; also the MQTT user name. Required unless `--stdout`.
    #[arg(long, env = "MICRODASH_AGENT_TENANT")]
    pub tenant: Option<String>,
    /// Agent token; the MQTT password.
    #[arg(long, env = "MICRODASH_AGENT_TOKEN", hide_env_values = true)]
    pub token: Option<Secret>,
    /// Agent id put on every sample and in the topic; defaults to the host name.
    #[arg(long, env = "MICRODASH_AGENT_ID")]
    pub agent_id: Option<String>,
    /// Collection interval (`10s`, `1m`, `1500ms`); at least 1 s.
    #[arg(long, env = "MICRODASH_AGENT_INTERVAL", default_value = "10s")]
    pub interval: Interval,
    /// Collectors to run, comma-separated; default all.
    #[arg(long, env = "MICRODASH_AGENT_COLLECTORS", value_delimiter = ',', value_enum)]
    pub collectors: Vec<CollectorKind>,
    /// Also report CPU usage per core (tag `core`).
    #[arg(long, env = "MICRODASH_AGENT_PER_CORE")]
    pub per_core: bool,
    /// Static tag added to every sample, `key=value`; repeat the flag or separate with commas.
    #[arg(long = "tag", env = "MICRODASH_AGENT_TAGS", value_delimiter = ',', value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// Directory of the on-disk spool that keeps batches while the broker is unreachable.
    #[arg(long, env = "MICRODASH_AGENT_SPOOL_DIR", default_value = "/var/lib/microdash-agent/spool")]
    pub spool_dir: PathBuf,
    /// Spool size limit in bytes; when full the oldest batches are dropped (and counted).
    #[arg(long, env = "MICRODASH_AGENT_SPOOL_MAX_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub spool_max_bytes: u64,
    /// Highest rate, in batches per second, at which the spool is replayed after a reconnect.
    #[arg(long, env = "MICRODASH_AGENT_REPLAY_RATE", default_value_t = 1000)]
    pub replay_rate: u32,
    /// PEM file of the CA that signed the broker's certificate (`mqtts://`); default: the
    /// system bundle `/etc/ssl/certs/ca-certificates.crt`.
    #[arg(long, env = "MICRODASH_AGENT_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// Accept any broker certificate. For testing only: anyone on the path can read the token.
    #[arg(long, env = "MICRODASH_AGENT_TLS_INSECURE_SKIP_VERIFY")]
    pub tls_insecure_skip_verify: bool,
    /// Collect once, print and exit (with `--stdout`; rates need one interval, capped at 1 s).
    #[arg(long)]
    pub once: bool,
    /// Print samples as JSON lines on standard output instead of publishing them.
    #[arg(long, env = "MICRODASH_AGENT_STDOUT")]
    pub stdout: bool,
    /// Root of the proc file system to read (tests and containers with the host's /proc
    /// mounted elsewhere).
    #[arg(long, env = "MICRODASH_AGENT_PROC_ROOT", default_value = "/proc")]
    pub proc_root: PathBuf,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, env = "MICRODASH_AGENT_LOG_LEVEL", default_value = "info")]
    pub log_level: tracing::Level,
}

/// The options a `--config` TOML file may set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    broker: Option<String>,
    tenant: Option<String>,
    token: Option<Secret>,
    agent_id: Option<String>,
    interval: Option<Interval>,
    collectors: Option<Vec<CollectorKind>>,
    per_core: Option<bool>,
    tags: Option<BTreeMap<String, String>>,
    spool_dir: Option<PathBuf>,
    spool_max_bytes: Option<u64>,
    replay_rate: Option<u32>,
    tls_ca_file: Option<PathBuf>,
    tls_insecure_skip_verify: Option<bool>,
    stdout: Option<bool>,
    proc_root: Option<PathBuf>,
}

/// Why the configuration cannot be used; each message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Flags or environment did not parse.
    #[error(transparent)]
    Cli(#[from] clap::Error),
    /// The `--config` file could not be read or parsed.
    #[error("config file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("{0}")]
    Invalid(String),
}

/// Whether a value came from a flag or the environment (and so beats the file).
fn explicit(m: &ArgMatches, id: &str) -> bool {
    matches!(m.value_source(id), Some(ValueSource::CommandLine | ValueSource::EnvVariable))
}

impl Config {
    /// Parses flags and environment, then fills what they left unset from `--config`.
    ///
    /// # Errors
    /// [`ConfigError`] for bad flags, an unreadable file or invalid values.
    pub fn load(args: impl IntoIterator<Item = String>) -> Result<Self, ConfigError> {
        let matches = Self::command().try_get_matches_from(args)?;
        let mut cfg = Self::from_arg_matches(&matches)?;
        if let Some(path) = cfg.config.clone() {
            let err = |message: String| ConfigError::File { path: path.clone(), message };
            let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
            let file: FileConfig = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
            cfg.merge(file, &matches);
        }
        if cfg.collectors.is_empty() {
            cfg.collectors = CollectorKind::ALL.to_vec();
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn merge(&mut self, f: FileConfig, m: &ArgMatches) {
        macro_rules! take {
            ($field:ident) => {
                if let Some(v) = f.$field
                    && !explicit(m, stringify!($field))
                {
                    self.$field = v.into();
                }
            };
        }
        take!(broker);
        take!(tenant);
        take!(token);
        take!(agent_id);
        take!(interval);
        take!(collectors);
        take!(per_core);
        take!(spool_dir);
        take!(spool_max_bytes);
        take!(replay_rate);
        take!(tls_ca_file);
        take!(tls_insecure_skip_verify);
        take!(stdout);
        take!(proc_root);
        if let Some(tags) = f.tags
            && !explicit(m, "tags")
        {
            self.tags = tags.into_iter().collect();
        }
    }

    /// Checks ranges and names, and fills the agent id from the host name.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the option to fix.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.interval.0 < MIN_INTERVAL {
            return bad(format!("--interval must be at least 1s, got {:?}", self.interval.0));
        }
        if self.replay_rate == 0 {
            return bad("--replay-rate must be at least 1 batch per second".into());
        }
        let id = match self.agent_id.take() {
            Some(id) => id,
            None => rustix::system::uname().nodename().to_string_lossy().into_owned(),
        };
        let id = AgentId::new(id.clone())
            .map_err(|e| ConfigError::Invalid(format!("--agent-id '{id}': {}", e.message)))?;
        self.agent_id = Some(id.as_str().to_owned());
        match &self.tenant {
            Some(t) => {
                TenantSlug::new(t.clone()).map_err(|e| ConfigError::Invalid(format!("--tenant: {e}")))?;
            }
            None if !self.stdout => return bad("--tenant is required unless --stdout is given".into()),
            None => {}
        }
        Tags::new(self.tags.iter().cloned().collect())
            .map_err(|e| ConfigError::Invalid(format!("--tag: {}", e.message)))?;
        if !self.stdout {
            crate::publish::BrokerUrl::parse(&self.broker)
                .map_err(|e| ConfigError::Invalid(format!("--broker {e}")))?;
        }
        Ok(())
    }

    /// The validated agent id.
    pub fn agent_id(&self) -> &str {
        self.agent_id.as_deref().unwrap_or("unknown")
    }

    /// Static tags as a map.
    pub fn static_tags(&self) -> BTreeMap<String, String> {
        self.tags.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests;
