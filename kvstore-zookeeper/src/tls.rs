//! TLS to ZooKeeper's secure client port: the configured PEM files as zookeeper-client's
//! options (rustls).

use kvstore_core::{Error, Result, TlsFiles};
use zookeeper_client as zk;

/// The TLS options of `files`: the CA to trust, and the client's certificate and key. A file
/// that cannot be read or parsed is [`Error::InvalidConfig`] naming it.
pub(crate) fn options(files: &TlsFiles) -> Result<zk::TlsOptions> {
    install_crypto_provider();
    let mut options = zk::TlsOptions::new();
    if let Some(ca) = &files.ca {
        let pem = read(ca)?;
        options = options
            .with_pem_ca(&pem)
            .map_err(|e| invalid(format!("{}: not a PEM CA certificate: {e}", ca.display())))?;
    }
    match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => {
            let (cert_pem, key_pem) = (read(cert)?, read(key)?);
            options = options
                .with_pem_identity(&cert_pem, &key_pem)
                .map_err(|e| {
                    invalid(format!(
                        "{} and {}: not a PEM certificate and key: {e}",
                        cert.display(),
                        key.display()
                    ))
                })?;
        }
        (None, None) => {}
        _ => {
            return Err(invalid(
                "a client certificate needs both cert and key".to_owned(),
            ))
        }
    }
    Ok(options)
}

fn read(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| invalid(format!("{}: {e}", path.display())))
}

fn invalid(message: String) -> Error {
    Error::InvalidConfig {
        message: format!("zookeeper TLS: {message}"),
    }
}

/// zookeeper-client builds its TLS configuration with rustls' process-wide crypto provider,
/// which rustls cannot choose when a program links two (ring and aws-lc-rs, through other
/// crates): this installs ring, unless the program installed one already.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may install one first: then that one is used, as it should.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
