//! `mqtts://` against a TLS endpoint with a certificate made in the test (rcgen): a
//! tokio-rustls proxy terminates TLS in front of the in-process rumqttd broker.

mod support;

use std::sync::Arc;
use std::time::Duration;

use microdash_agent::app;
use support::*;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// Starts a TLS proxy for `localhost` forwarding to the broker on `broker_port`; returns its
/// port and the certificate (PEM) a client must trust.
async fn tls_proxy(broker_port: u16) -> (u16, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let pem = cert.cert.pem();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", broker_port)).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    (port, pem)
}

async fn publishes_over_tls(extra: impl FnOnce(&std::path::Path) -> Vec<String>) -> bool {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let broker_port = free_port();
    start_broker(broker_port);
    let mut rx = subscribe(broker_port).await;
    let (tls_port, pem) = tls_proxy(broker_port).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let mut args = vec!["--broker".to_owned(), format!("mqtts://localhost:{tls_port}")];
    args.extend(extra(&ca));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let cfg = agent_config(broker_port, &dir.path().join("spool"), &args);
    let (stop, stopped) = oneshot::channel::<()>();
    let agent = tokio::spawn(app::run(cfg, async move {
        let _ = stopped.await;
    }));
    let delivered = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.is_ok();
    stop.send(()).unwrap();
    agent.await.unwrap().unwrap();
    delivered
}

#[tokio::test]
async fn batches_are_delivered_over_tls_when_the_ca_file_signs_the_broker_certificate() {
    let ok = publishes_over_tls(|ca| vec!["--tls-ca-file".into(), ca.display().to_string()]).await;
    assert!(ok, "no batch arrived over TLS");
}

#[tokio::test]
async fn insecure_skip_verify_accepts_an_untrusted_certificate() {
    let ok = publishes_over_tls(|_| vec!["--tls-insecure-skip-verify".into()]).await;
    assert!(ok, "no batch arrived over TLS");
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_and_nothing_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let wrong_ca = dir.path().join("other.pem");
    std::fs::write(&wrong_ca, other.cert.pem()).unwrap();
    let path = wrong_ca.display().to_string();
    let ok = publishes_over_tls(move |_| vec!["--tls-ca-file".into(), path]).await;
    assert!(!ok, "a batch was delivered although the certificate is not trusted");
}
