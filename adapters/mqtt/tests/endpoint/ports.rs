//! Binding: a busy default port falls back to the next free one; a chosen one fails fast.

use microdash_adapter_memory::{FakeClock, MemoryIngestQueue, MemoryRateLimiter, MemoryStore};
use microdash_adapter_mqtt::{BindError, EndpointOptions, MqttEndpoint};
use microdash_domain::Timestamp;
use microdash_usecases::{AuthService, IngestLimits, IngestService};
use std::sync::Arc;

async fn bind(options: EndpointOptions) -> Result<MqttEndpoint, BindError> {
    let clock = Arc::new(FakeClock::new(Timestamp::from_millis(0)));
    let store = Arc::new(MemoryStore::default());
    let queue = Arc::new(MemoryIngestQueue::new(10));
    let ingest = IngestService::new(
        queue,
        Arc::new(MemoryRateLimiter::new(clock.clone())),
        clock.clone(),
        IngestLimits::default(),
    );
    MqttEndpoint::bind(options, Arc::new(AuthService::new(store, clock)), Arc::new(ingest)).await
}

#[tokio::test]
async fn a_busy_port_with_fallback_moves_to_the_next_free_one() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut options = EndpointOptions::new(taken.local_addr().unwrap());
    options.port_fallback = 20;
    let endpoint = bind(options).await.unwrap();
    assert!(endpoint.local_addr().port() > taken.local_addr().unwrap().port());
}

#[tokio::test]
async fn a_busy_port_without_fallback_fails_fast_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let Err(error) = bind(EndpointOptions::new(addr)).await else { panic!("bound a busy port") };
    assert!(matches!(&error, BindError::Listen { addr: a, .. } if *a == addr), "{error}");
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}
