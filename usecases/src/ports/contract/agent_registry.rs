//! Contract of [`AgentRegistry`]: agents' sightings, counts and learnt intervals, per tenant.

use super::*;

/// Agents: first/last seen, sample counts, per tenant.
pub async fn agent_registry_tracks_last_seen_and_counts_per_tenant(store: &dyn Storage) {
    let (tenants, agents): (&dyn TenantRepo, &dyn AgentRegistry) = (store, store);
    let a = new_tenant(tenants, "ara").await;
    let b = new_tenant(tenants, "arb").await;
    let seen = |agent: &str, at: i64, n: u64| AgentSeen {
        agent: AgentId::new(agent).unwrap(),
        received_at: Timestamp::from_millis(T0 + at),
        last_sample_at: Timestamp::from_millis(T0 + at - 1),
        samples: n,
    };
    agents.record(a.id, &[seen("h1", 100, 3), seen("h2", 100, 1)]).await.unwrap();
    agents.record(a.id, &[seen("h1", 200, 2)]).await.unwrap();
    agents.record(a.id, &[seen("h1", 150, 1)]).await.unwrap(); // late: last_seen stays 200
    let list = agents.list(a.id).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].agent.as_str(), "h1");
    assert_eq!(list[0].first_seen, Timestamp::from_millis(T0 + 100));
    assert_eq!(list[0].last_seen, Timestamp::from_millis(T0 + 200));
    assert_eq!(list[0].last_sample_at, Timestamp::from_millis(T0 + 199));
    assert_eq!(list[0].samples, 6);
    assert!(agents.list(b.id).await.unwrap().is_empty(), "agents are per tenant");
}

/// The registry learns each agent's interval from the gaps between the newest sample times
/// of its sightings, and finds one agent of one tenant.
pub async fn agent_registry_learns_intervals_and_finds_one_agent(store: &dyn Storage) {
    let t = new_tenant(store, "ari").await;
    let other = new_tenant(store, "arj").await;
    let seen = |last_sample: i64| AgentSeen {
        agent: AgentId::new("h1").unwrap(),
        received_at: at(T0 + last_sample + 50),
        last_sample_at: at(T0 + last_sample),
        samples: 1,
    };
    let h1 = AgentId::new("h1").unwrap();
    store.record(t.id, &[seen(10_000)]).await.unwrap();
    assert_eq!(store.find(t.id, &h1).await.unwrap().unwrap().interval, None, "one sighting: no interval yet");
    store.record(t.id, &[seen(20_000)]).await.unwrap();
    assert_eq!(store.find(t.id, &h1).await.unwrap().unwrap().interval, Some(Duration::from_secs(10)));
    store.record(t.id, &[seen(50_000)]).await.unwrap();
    store.record(t.id, &[seen(40_000)]).await.unwrap(); // out of order: teaches nothing
    let found = store.find(t.id, &h1).await.unwrap().unwrap();
    assert_eq!(found.interval, Some(Duration::from_millis(15_000)));
    assert_eq!((found.samples, found.last_sample_at), (4, at(T0 + 50_000)));
    assert_eq!(AgentRegistry::list(store, t.id).await.unwrap()[0].interval, found.interval);
    assert!(store.find(t.id, &AgentId::new("h9").unwrap()).await.unwrap().is_none());
    assert!(store.find(other.id, &h1).await.unwrap().is_none(), "agents are per tenant");
}
