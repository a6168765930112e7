//! TLS to the server, on rustls: the server's certificate is checked against the configured CA
//! (or the system's roots) and the host name (what libpq calls `sslmode=verify-full`; kvstore
//! never encrypts without checking whom it talks to), with a client certificate when given.

use std::sync::Arc;

use kvstore_core::config::TlsFiles;
use kvstore_core::{Error, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The connector for `files`.
pub(crate) fn connector(files: &TlsFiles) -> Result<MakeRustlsConnect> {
    let invalid = |message: String| Error::InvalidConfig { message };
    let mut roots = RootCertStore::empty();
    match &files.ca {
        Some(ca) => {
            let certificates = CertificateDer::pem_file_iter(ca)
                .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| invalid(format!("cannot read the TLS CA {}: {e}", ca.display())))?;
            let (added, _) = roots.add_parsable_certificates(certificates);
            if added == 0 {
                return Err(invalid(format!(
                    "the TLS CA {} holds no certificate",
                    ca.display()
                )));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    let config = match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| {
                    invalid(format!(
                        "cannot read the TLS certificate {}: {e}",
                        cert.display()
                    ))
                })?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| invalid(format!("cannot read the TLS key {}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| invalid(format!("TLS client certificate: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(invalid(
                "a TLS client certificate needs both cert and key".to_owned(),
            ))
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

/// What failed in TLS, if the driver's error (or one of its sources) says: a certificate this
/// client refused, an alert from the server, a server that does not speak TLS.
pub(crate) fn failure(err: &tokio_postgres::Error) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(error) = current {
        let inner = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        for candidate in [Some(error), inner].into_iter().flatten() {
            if let Some(tls) = candidate.downcast_ref::<rustls::Error>() {
                return Some(match tls {
                    rustls::Error::InvalidCertificate(why) => {
                        format!("PostgreSQL's certificate was refused: {why:?}")
                    }
                    rustls::Error::AlertReceived(alert) => format!(
                        "PostgreSQL ended the TLS handshake ({alert:?}): it refused this client's certificate, or requires one"
                    ),
                    other => format!("TLS with PostgreSQL failed: {other}"),
                });
            }
        }
        if error.to_string().contains("server does not support TLS") {
            return Some("the server does not speak TLS (ssl = off)".to_owned());
        }
        current = error.source();
    }
    None
}
