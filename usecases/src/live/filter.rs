//! Which samples a viewer asked for: some metrics, some agents, or everything.

use std::collections::BTreeSet;
use std::sync::Arc;

use microdash_domain::{AgentId, MetricName, Sample};

use super::{LiveError, LiveEvent};

/// Most names in one filter list: a dashboard panel shows a handful of series, and the list
/// is checked against every sample of the tenant.
pub const MAX_FILTER_NAMES: usize = 100;

/// A viewer's selection. An empty selection (no list given) lets every sample through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveFilter {
    metrics: Option<BTreeSet<MetricName>>,
    agents: Option<BTreeSet<AgentId>>,
}

impl LiveFilter {
    /// Parses comma-separated metric names and agent ids (`cpu,mem`); an absent or empty
    /// list selects everything.
    ///
    /// # Errors
    /// [`LiveError::InvalidParameter`] naming `metrics` or `agent_id` when a name is invalid
    /// or there are more than [`MAX_FILTER_NAMES`].
    pub fn parse(metrics: Option<&str>, agents: Option<&str>) -> Result<Self, LiveError> {
        Ok(Self {
            metrics: list("metrics", metrics, |n| MetricName::new(n).map_err(|e| e.message))?,
            agents: list("agent_id", agents, |n| AgentId::new(n).map_err(|e| e.message))?,
        })
    }

    /// Whether the viewer wants this sample.
    pub fn matches(&self, sample: &Sample) -> bool {
        self.metrics.as_ref().is_none_or(|m| m.contains(&sample.series.metric))
            && self
                .agents
                .as_ref()
                .is_none_or(|a| sample.series.agent.as_ref().is_some_and(|agent| a.contains(agent)))
    }

    /// The part of `event` the viewer wants, under the same id; `None` when nothing matches.
    /// An event that matches whole is shared, not copied.
    pub(crate) fn apply(&self, event: &LiveEvent) -> Option<LiveEvent> {
        if self.metrics.is_none() && self.agents.is_none() {
            return Some(event.clone());
        }
        let wanted = event.samples.iter().filter(|s| self.matches(s)).count();
        match wanted {
            0 => None,
            n if n == event.samples.len() => Some(event.clone()),
            _ => {
                let samples: Vec<Sample> =
                    event.samples.iter().filter(|s| self.matches(s)).cloned().collect();
                Some(LiveEvent { id: event.id, samples: Arc::new(samples) })
            }
        }
    }
}

fn list<T: Ord>(
    field: &'static str,
    text: Option<&str>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<BTreeSet<T>>, LiveError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    let names: Vec<&str> = text.split(',').map(str::trim).collect();
    if names.len() > MAX_FILTER_NAMES {
        return Err(LiveError::InvalidParameter {
            field,
            message: format!("{} names given; at most {MAX_FILTER_NAMES} are allowed", names.len()),
        });
    }
    let set = names
        .into_iter()
        .map(|n| parse(n).map_err(|m| LiveError::InvalidParameter { field, message: format!("'{n}' {m}") }))
        .collect::<Result<BTreeSet<T>, _>>()?;
    Ok(Some(set))
}

#[cfg(test)]
mod tests {
    use microdash_domain::sample::SeriesKey;
    use microdash_domain::{Tags, Timestamp};

    use super::*;

    fn s(metric: &str, agent: Option<&str>) -> Sample {
        Sample {
            series: SeriesKey {
                metric: MetricName::new(metric).unwrap(),
                agent: agent.map(|a| AgentId::new(a).unwrap()),
                tags: Tags::empty(),
            },
            value: 1.0,
            timestamp: Timestamp::from_millis(0),
            dedupe_id: None,
        }
    }

    #[test]
    fn lists_select_metrics_and_agents_and_absent_lists_select_everything() {
        let event = LiveEvent {
            id: 7,
            samples: Arc::new(vec![
                s("cpu", Some("h1")),
                s("mem", Some("h1")),
                s("cpu", Some("h2")),
                s("cpu", None),
            ]),
        };
        let everything = LiveFilter::parse(None, Some(" ")).unwrap();
        assert!(
            Arc::ptr_eq(&everything.apply(&event).unwrap().samples, &event.samples),
            "shared, not copied"
        );

        let cpu_on_h1 = LiveFilter::parse(Some("cpu, disk"), Some("h1")).unwrap();
        let got = cpu_on_h1.apply(&event).unwrap();
        assert_eq!((got.id, got.samples.as_slice()), (7, &[s("cpu", Some("h1"))][..]));

        let metrics_only = LiveFilter::parse(Some("cpu"), None).unwrap();
        assert_eq!(metrics_only.apply(&event).unwrap().samples.len(), 3, "samples without an agent pass");
        assert_eq!(LiveFilter::parse(Some("swap"), None).unwrap().apply(&event), None);
    }

    #[test]
    fn invalid_names_and_overlong_lists_name_the_parameter() {
        let field = |r: Result<LiveFilter, LiveError>| match r {
            Err(LiveError::InvalidParameter { field, .. }) => field,
            other => panic!("expected an invalid parameter, got {other:?}"),
        };
        assert_eq!(field(LiveFilter::parse(Some("cpu,9bad"), None)), "metrics");
        assert_eq!(field(LiveFilter::parse(None, Some("a/b"))), "agent_id");
        assert_eq!(field(LiveFilter::parse(Some("cpu,,mem"), None)), "metrics");
        let many = (0..=MAX_FILTER_NAMES).map(|i| format!("m{i}")).collect::<Vec<_>>().join(",");
        assert_eq!(field(LiveFilter::parse(Some(&many), None)), "metrics");
    }
}
