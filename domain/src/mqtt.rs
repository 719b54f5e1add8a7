//! MQTT topics and payloads: which tenant, agent and metric a device message is for, and its
//! samples, validated by the very rules of the HTTP API ([`crate::wire`]).
//!
//! Two topic forms:
//! - `metrics/{tenant}/{agent_id}/{metric_name}`: the payload is a bare number (`42.5`) or a JSON
//!   object `{value, timestamp?, tags?, dedupe_id?}`; metric and agent come from the topic.
//! - `metrics/{tenant}/{agent_id}`: the payload is a JSON array (or one object) of
//!   `{metric_name, value, timestamp?, tags?, dedupe_id?}`, which is what the edge agent sends.
//!   Items may repeat the topic's `agent_id` (the agent does) but not name another one.
//!
//! Not for: packets, sessions, authentication (the MQTT adapter's) or quotas (the use case's).

use serde_json::Value;

use crate::sample::{AgentId, MetricName, Sample};
use crate::tenant::{InvalidSlug, TenantSlug};
use crate::validation::{Field, FieldError, ItemError};
use crate::wire::{self, ValidationContext, WireError, WireItem};

/// First level of every ingest topic.
pub const TOPIC_ROOT: &str = "metrics";

/// A parsed ingest topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsTopic {
    /// The tenant the message is for; the endpoint checks it against the sender's.
    pub tenant: TenantSlug,
    /// The agent (host, device) of every sample.
    pub agent: AgentId,
    /// The metric, in the one-metric form; `None` in the batch form.
    pub metric: Option<MetricName>,
}

/// Why a topic is not an ingest topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The topic does not start with `metrics/`.
    #[error("the topic is not under metrics/")]
    Foreign,
    /// Too few or too many levels.
    #[error(
        "the topic has {levels} levels; expected metrics/{{tenant}}/{{agent_id}} or \
         metrics/{{tenant}}/{{agent_id}}/{{metric_name}}"
    )]
    Shape {
        /// Levels found.
        levels: usize,
    },
    /// The tenant level is not a valid slug.
    #[error("tenant in the topic: {0}")]
    Tenant(InvalidSlug),
    /// The agent level is not a valid agent id.
    #[error("agent id in the topic: {}", .0.message)]
    Agent(FieldError),
    /// The metric level is not a valid metric name.
    #[error("metric name in the topic: {}", .0.message)]
    Metric(FieldError),
}

impl MetricsTopic {
    /// The tenant level of a `metrics/...` topic, unvalidated: enough to tell a publish into
    /// another tenant from a malformed one, whatever the rest of the topic looks like.
    pub fn tenant_level(topic: &str) -> Option<&str> {
        let rest = topic.strip_prefix(TOPIC_ROOT)?.strip_prefix('/')?;
        Some(rest.split('/').next().unwrap_or(rest))
    }

    /// Parses and validates a topic.
    ///
    /// # Errors
    /// [`TopicError`] naming the level at fault.
    pub fn parse(topic: &str) -> Result<Self, TopicError> {
        let mut levels = topic.split('/');
        if levels.next() != Some(TOPIC_ROOT) {
            return Err(TopicError::Foreign);
        }
        let rest: Vec<&str> = levels.collect();
        let (tenant, agent, metric) = match rest.as_slice() {
            [tenant, agent] => (*tenant, *agent, None),
            [tenant, agent, metric] => (*tenant, *agent, Some(*metric)),
            other => return Err(TopicError::Shape { levels: other.len() + 1 }),
        };
        Ok(Self {
            tenant: TenantSlug::new(tenant).map_err(TopicError::Tenant)?,
            agent: AgentId::new(agent).map_err(TopicError::Agent)?,
            metric: metric.map(MetricName::new).transpose().map_err(TopicError::Metric)?,
        })
    }

    /// Parses and validates a message's payload into samples, all-or-nothing like an HTTP
    /// request: every sample gets the topic's agent, and in the one-metric form its metric.
    ///
    /// # Errors
    /// [`WireError`], exactly as [`wire::parse_batch`] reports it for HTTP, plus an item
    /// error when the payload contradicts the topic (another agent, a metric name in the
    /// one-metric form).
    pub fn parse_payload(
        &self,
        payload: &[u8],
        ctx: &ValidationContext,
        max_items: usize,
    ) -> Result<Vec<Sample>, WireError> {
        match &self.metric {
            Some(metric) => self.one_metric(metric, payload, ctx),
            None => self.batch(payload, ctx, max_items),
        }
    }

    fn one_metric(
        &self,
        metric: &MetricName,
        payload: &[u8],
        ctx: &ValidationContext,
    ) -> Result<Vec<Sample>, WireError> {
        let invalid =
            |field, message: String| WireError::Invalid(vec![ItemError { index: 0, field, message }]);
        let malformed = |e: serde_json::Error| WireError::Malformed(e.to_string());
        // An object is read by the very visitor of HTTP items (unknown and repeated fields
        // are errors there too); a bare number is the value.
        let mut item = match payload.iter().find(|b| !b.is_ascii_whitespace()) {
            None => {
                return Err(WireError::Malformed(
                    "the payload is empty; send a number or a JSON object".to_owned(),
                ));
            }
            Some(b'{') => serde_json::from_slice::<WireItem>(payload).map_err(malformed)?,
            Some(_) => match serde_json::from_slice::<Value>(payload).map_err(malformed)? {
                Value::Number(number) => WireItem::of_number(&number),
                _ => {
                    return Err(WireError::Malformed(
                        "the payload of metrics/{tenant}/{agent_id}/{metric_name} must be a number or a JSON \
                         object {value, timestamp?, tags?, dedupe_id?}"
                            .to_owned(),
                    ));
                }
            },
        };
        if item.metric_name.is_some() {
            let m = "comes from the topic; leave it out of the payload (or publish to metrics/{tenant}/{agent_id})";
            return Err(invalid(Field::MetricName, m.to_owned()));
        }
        match &item.agent_id {
            None | Some(Ok(None)) => item.agent_id = Some(Ok(Some(self.agent.clone()))),
            Some(Ok(Some(a))) if *a == self.agent => {}
            Some(Ok(Some(other))) => return Err(invalid(Field::AgentId, self.other_agent(other))),
            // A wrong type or an invalid id: validation reports it.
            Some(Err(_)) => {}
        }
        item.metric_name = Some(Ok(Some(metric.clone())));
        item.validate(ctx)
            .map(|sample| vec![sample])
            .map_err(|errors| WireError::Invalid(errors.into_iter().map(|e| e.at(0)).collect()))
    }

    fn batch(
        &self,
        payload: &[u8],
        ctx: &ValidationContext,
        max_items: usize,
    ) -> Result<Vec<Sample>, WireError> {
        let mut samples = wire::parse_batch(payload, ctx, max_items)?;
        let mut errors = Vec::new();
        for (index, sample) in samples.iter_mut().enumerate() {
            match &sample.series.agent {
                None => sample.series.agent = Some(self.agent.clone()),
                Some(a) if *a == self.agent => {}
                Some(other) => {
                    errors.push(ItemError { index, field: Field::AgentId, message: self.other_agent(other) })
                }
            }
        }
        if errors.is_empty() { Ok(samples) } else { Err(WireError::Invalid(errors)) }
    }

    fn other_agent(&self, given: &AgentId) -> String {
        format!(
            "'{given}' differs from the topic's agent '{}'; leave it out or publish to that agent's topic",
            self.agent
        )
    }
}

/// Where an MQTT client connects (the edge agent, the bridge): `mqtt://host[:port]` or
/// `mqtts://host[:port]` (TLS), `[v6]` for an IPv6 address; the port defaults to 1883, 8883 with
/// TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Whether to use TLS.
    pub tls: bool,
}

impl BrokerUrl {
    /// Parses a broker URL.
    ///
    /// # Errors
    /// A message quoting the URL and naming what is wrong with it.
    pub fn parse(url: &str) -> Result<Self, String> {
        let bad =
            |why: &str| Err(format!("'{url}': {why}; expected mqtt://host[:port] or mqtts://host[:port]"));
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else {
            return bad("unknown scheme");
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((h, "")) => (h, None),
                Some((h, p)) => (h, p.strip_prefix(':')),
                None => return bad("unclosed '['"),
            },
            None => match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            },
        };
        if host.is_empty() {
            return bad("no host");
        }
        let port = match port.map(str::parse) {
            None if tls => 8883,
            None => 1883,
            Some(Ok(p)) => p,
            Some(Err(_)) => return bad("bad port"),
        };
        Ok(Self { host: host.to_owned(), port, tls })
    }
}

#[cfg(test)]
mod tests;
