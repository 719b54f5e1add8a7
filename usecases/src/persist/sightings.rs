//! Agent sightings gathered between registry flushes: the registry needs "last heard from" to
//! the second, not a row write per agent per request on the storage writer's critical path.

use std::collections::BTreeMap;
use std::sync::Mutex;

use microdash_domain::{AgentId, Sample, TenantId, Timestamp};

use crate::ports::AgentSeen;

/// Sightings not yet written to the agent registry, per tenant and agent.
#[derive(Default)]
pub(crate) struct Sightings {
    /// A std mutex: held only to merge or take maps, never across an await.
    pending: Mutex<BTreeMap<TenantId, BTreeMap<AgentId, AgentSeen>>>,
}

impl Sightings {
    /// Records that these stored samples were received at `received_at`.
    pub(crate) fn add(&self, tenant: TenantId, stored: &[Sample], received_at: Timestamp) {
        let mut pending = self.pending.lock().expect("sightings mutex poisoned");
        let agents = pending.entry(tenant).or_default();
        for s in stored {
            if let Some(agent) = &s.series.agent {
                let seen =
                    AgentSeen { agent: agent.clone(), received_at, last_sample_at: s.timestamp, samples: 1 };
                merge(agents, seen);
            }
        }
    }

    /// Takes everything pending, leaving nothing.
    pub(crate) fn take(&self) -> BTreeMap<TenantId, Vec<AgentSeen>> {
        let taken = std::mem::take(&mut *self.pending.lock().expect("sightings mutex poisoned"));
        taken.into_iter().map(|(t, agents)| (t, agents.into_values().collect())).collect()
    }

    /// Puts back sightings whose write failed, merged with any gathered meanwhile.
    pub(crate) fn restore(&self, tenant: TenantId, seen: Vec<AgentSeen>) {
        let mut pending = self.pending.lock().expect("sightings mutex poisoned");
        let agents = pending.entry(tenant).or_default();
        for s in seen {
            merge(agents, s);
        }
    }
}

fn merge(agents: &mut BTreeMap<AgentId, AgentSeen>, seen: AgentSeen) {
    match agents.get_mut(&seen.agent) {
        Some(e) => {
            e.received_at = e.received_at.max(seen.received_at);
            e.last_sample_at = e.last_sample_at.max(seen.last_sample_at);
            e.samples += seen.samples;
        }
        None => {
            agents.insert(seen.agent.clone(), seen);
        }
    }
}

#[cfg(test)]
mod tests {
    use microdash_domain::sample::SeriesKey;
    use microdash_domain::{MetricName, Tags};

    use super::*;

    fn sample(agent: Option<&str>, ts: i64) -> Sample {
        Sample {
            series: SeriesKey {
                metric: MetricName::new("m").unwrap(),
                agent: agent.map(|a| AgentId::new(a).unwrap()),
                tags: Tags::empty(),
            },
            value: 0.0,
            timestamp: Timestamp::from_millis(ts),
            dedupe_id: None,
        }
    }

    #[test]
    fn sightings_add_up_per_agent_keep_the_newest_times_and_skip_samples_without_agent() {
        let s = Sightings::default();
        let t = TenantId::new(1);
        s.add(t, &[sample(Some("a"), 5), sample(Some("a"), 9), sample(None, 1)], Timestamp::from_millis(100));
        s.add(t, &[sample(Some("a"), 7), sample(Some("b"), 1)], Timestamp::from_millis(50));
        let taken = s.take();
        let a = &taken[&t][0];
        assert_eq!(
            (a.agent.as_str(), a.samples, a.last_sample_at.as_millis(), a.received_at.as_millis()),
            ("a", 3, 9, 100)
        );
        assert_eq!(taken[&t].len(), 2);
        assert!(s.take().is_empty(), "take leaves nothing behind");
    }

    #[test]
    fn restored_sightings_merge_with_new_ones() {
        let s = Sightings::default();
        let t = TenantId::new(1);
        s.add(t, &[sample(Some("a"), 5)], Timestamp::from_millis(10));
        let failed = s.take().remove(&t).unwrap();
        s.add(t, &[sample(Some("a"), 6)], Timestamp::from_millis(20));
        s.restore(t, failed);
        let a = &s.take()[&t][0];
        assert_eq!((a.samples, a.received_at.as_millis()), (2, 20));
    }
}
