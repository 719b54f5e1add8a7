//! The TLS listener: a device that trusts the configured certificate connects and publishes.

use std::sync::Arc;
use std::time::Duration;

use microdash_adapter_mqtt::{EndpointOptions, TlsOptions};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use rustls::pki_types::CertificateDer;

use crate::helpers::*;

fn certificate(dir: &std::path::Path) -> (TlsOptions, CertificateDer<'static>) {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let options = TlsOptions { addr: "127.0.0.1:0".parse().unwrap(), cert, key };
    (options, generated.cert.der().clone())
}

#[tokio::test]
async fn a_device_trusting_the_certificate_publishes_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (tls, der) = certificate(dir.path());
    let mut options = EndpointOptions::new("127.0.0.1:0".parse().unwrap());
    options.tls = Some(tls);
    let app = spawn_with(Setup { options, ..Setup::default() }).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut o = MqttOptions::new("tls-device", "localhost", app.tls_addr.unwrap().port());
    o.set_credentials("alpha", app.alpha.token.clone())
        .set_keep_alive(Duration::from_secs(30))
        .set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(Arc::new(client_tls))));
    let (client, mut eventloop) = AsyncClient::new(o, 10);
    client.publish("metrics/alpha/secure-1/cpu", QoS::AtLeastOnce, false, "5").await.unwrap();
    tokio::time::timeout(WITHIN, async {
        loop {
            if let Event::Incoming(Packet::PubAck(_)) = eventloop.poll().await.expect("TLS connection failed")
            {
                return;
            }
        }
    })
    .await
    .expect("no PUBACK over TLS");
    assert_eq!(app.stored_eventually(&app.alpha, "cpu", 1).await[0].0, "secure-1");
}

#[tokio::test]
async fn an_unreadable_key_fails_the_bind_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (mut tls, _) = certificate(dir.path());
    tls.key = dir.path().join("missing.pem");
    let mut options = EndpointOptions::new("127.0.0.1:0".parse().unwrap());
    options.tls = Some(tls);
    let clock =
        Arc::new(microdash_adapter_memory::FakeClock::new(microdash_domain::Timestamp::from_millis(0)));
    let store = Arc::new(microdash_adapter_memory::MemoryStore::default());
    let ingest = microdash_usecases::IngestService::new(
        Arc::new(microdash_adapter_memory::MemoryIngestQueue::new(10)),
        Arc::new(microdash_adapter_memory::MemoryRateLimiter::new(clock.clone())),
        clock.clone(),
        Default::default(),
    );
    let auth = microdash_usecases::AuthService::new(store, clock);
    let result = microdash_adapter_mqtt::MqttEndpoint::bind(options, Arc::new(auth), Arc::new(ingest)).await;
    let Err(error) = result else { panic!("bound with a missing key") };
    assert!(error.to_string().contains("missing.pem"), "{error}");
}
