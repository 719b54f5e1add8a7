use std::sync::Arc;

use microdash_adapter_memory::{FakeClock, MemoryStore};

use microdash_domain::{TenantId, Timestamp};
use microdash_usecases::QueryService;
use microdash_usecases::query::{QueryError, QueryOutcome, RawQueryParams};

fn service() -> QueryService {
    let store = Arc::new(MemoryStore::default());
    QueryService::new(
        store.clone(),
        store,
        Arc::new(FakeClock::new(Timestamp::from_millis(1_795_000_000_000))),
    )
}

#[tokio::test]
async fn bad_parameters_are_named() {
    let svc = service();
    let t = TenantId::new(1);
    let field = |r: Result<QueryOutcome, QueryError>| match r {
        Err(QueryError::InvalidParameter { field, .. }) => field,
        other => panic!("expected InvalidParameter, got {other:?}"),
    };
    assert_eq!(
        field(svc.query_raw(t, RawQueryParams { name: "9x".into(), ..Default::default() }).await),
        "name"
    );
    let p = RawQueryParams { name: "m".into(), agent_id: Some("a b".into()), ..Default::default() };
    assert_eq!(field(svc.query_raw(t, p).await), "agent_id");
    let p = RawQueryParams {
        name: "m".into(),
        start: Some(Timestamp::from_millis(2)),
        end: Some(Timestamp::from_millis(1)),
        ..Default::default()
    };
    assert_eq!(field(svc.query_raw(t, p).await), "start");
    let p = RawQueryParams { name: "m".into(), limit: Some(0), ..Default::default() };
    assert_eq!(field(svc.query_raw(t, p).await), "limit");
}

#[tokio::test]
async fn the_default_range_is_the_last_hour() {
    let out = service()
        .query_raw(TenantId::new(1), RawQueryParams { name: "m".into(), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(out.end.as_millis() - out.start.as_millis(), 3_600_000);
    assert_eq!(out.end.as_millis(), 1_795_000_000_000);
}
