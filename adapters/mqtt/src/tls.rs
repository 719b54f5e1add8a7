//! The TLS listener's rustls configuration, from PEM files. The crypto provider (ring) is
//! passed explicitly: a binary that links several providers has no process default, and
//! `ServerConfig::builder()` would panic there.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::endpoint::BindError;
use crate::options::TlsOptions;

/// Builds the acceptor for `options`' certificate and key.
///
/// # Errors
/// [`BindError::Tls`] naming the file or the problem.
pub(crate) fn acceptor(options: &TlsOptions) -> Result<TlsAcceptor, BindError> {
    let certs = read_certs(&options.cert)?;
    let key = PrivateKeyDer::from_pem_file(&options.key).map_err(|e| BindError::Tls {
        message: format!("cannot read a private key from {}: {e}", options.key.display()),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| BindError::Tls {
            message: format!(
                "the certificate {} and the key {} do not make a TLS configuration: {e}",
                options.cert.display(),
                options.key.display()
            ),
        })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, BindError> {
    let bad = |e: &dyn std::fmt::Display| BindError::Tls {
        message: format!("cannot read certificates from {}: {e}", path.display()),
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no CERTIFICATE block in the file"));
    }
    Ok(certs)
}
