//! Contract of [`LiveBus`]: live messages per tenant, numbered consecutively.

use super::*;

/// The live bus delivers a tenant's samples to that tenant's subscribers only, numbered one
/// after the other from where the subscription started.
pub async fn live_bus_delivers_to_the_tenants_subscribers_only(bus: &dyn LiveBus) {
    let a = microdash_domain::TenantId::new(9_000_001);
    let b = microdash_domain::TenantId::new(9_000_002);
    let mut sub_a = bus.subscribe(a).await.unwrap();
    let mut sub_b = bus.subscribe(b).await.unwrap();
    let samples = Arc::new(vec![sample("m", None, 0, 1.0)]);
    bus.publish(a, samples.clone()).await.unwrap();
    let got =
        tokio::time::timeout(Duration::from_secs(5), sub_a.messages.next()).await.expect("delivered in time");
    let first_id = match got {
        Some(LiveMessage::Samples { id, samples: got }) if got == samples => id,
        other => panic!("expected the published samples, got {other:?}"),
    };
    assert!(first_id > sub_a.last_id, "ids increase: {first_id} after {}", sub_a.last_id);
    let other = tokio::time::timeout(Duration::from_millis(100), sub_b.messages.next()).await;
    assert!(other.is_err(), "tenant b must receive nothing: {other:?}");
}

/// Live message ids are per tenant and consecutive, so that every node names a message the
/// same way and a gap shows as a jump; a later subscription starts where the ids are.
pub async fn live_bus_numbers_each_tenants_messages_consecutively(bus: &dyn LiveBus) {
    let a = microdash_domain::TenantId::new(9_000_011);
    let b = microdash_domain::TenantId::new(9_000_012);
    let mut sub_a = bus.subscribe(a).await.unwrap();
    let mut sub_b = bus.subscribe(b).await.unwrap();
    for i in 0..3 {
        bus.publish(a, Arc::new(vec![sample("m", None, i, 1.0)])).await.unwrap();
    }
    bus.publish(b, Arc::new(vec![sample("m", None, 0, 1.0)])).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        match tokio::time::timeout(Duration::from_secs(5), sub_a.messages.next()).await.expect("in time") {
            Some(LiveMessage::Samples { id, .. }) => ids.push(id),
            other => panic!("expected samples, got {other:?}"),
        }
    }
    assert_eq!(ids, [ids[0], ids[0] + 1, ids[0] + 2], "consecutive ids");
    let Some(LiveMessage::Samples { id: b_id, .. }) = sub_b.messages.next().await else {
        panic!("b's message")
    };
    assert!(b_id > sub_b.last_id, "tenant b has its own counter");

    let late = bus.subscribe(a).await.unwrap();
    assert_eq!(late.last_id, ids[2], "a new subscription knows the last id");
    bus.publish(a, Arc::new(vec![sample("m", None, 9, 1.0)])).await.unwrap();
    let mut late = late.messages;
    let Some(LiveMessage::Samples { id, .. }) =
        tokio::time::timeout(Duration::from_secs(5), late.next()).await.expect("in time")
    else {
        panic!("the next message");
    };
    assert_eq!(id, ids[2] + 1, "and gets exactly what follows, nothing before");
}
