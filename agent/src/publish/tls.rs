//! rustls client configuration for `mqtts://`: a CA bundle from a file (default: the system
//! bundle), or, for testing only, no certificate verification at all.

use std::sync::Arc;

use rumqttc::TlsConfiguration;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::config::Config;

/// Where Debian-family systems keep the trusted CA bundle.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The TLS settings for the configured CA file or insecure mode.
///
/// # Errors
/// The CA file cannot be read.
pub fn client_config(cfg: &Config) -> Result<TlsConfiguration, String> {
    if cfg.tls_insecure_skip_verify {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth();
        return Ok(TlsConfiguration::Rustls(Arc::new(config)));
    }
    let path = cfg.tls_ca_file.clone().unwrap_or_else(|| SYSTEM_CA_BUNDLE.into());
    let ca = std::fs::read(&path).map_err(|e| format!("--tls-ca-file {}: {e}", path.display()))?;
    Ok(TlsConfiguration::Simple { ca, alpn: None, client_auth: None })
}

/// Accepts any server certificate (`--tls-insecure-skip-verify`); signatures are still
/// checked so the handshake itself is sound.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
