//! Telling a TLS mismatch from an unreachable server when a first connection fails.
//!
//! Certificates etcd's client refuses carry their reason. Two TLS failures do not: a server
//! that refuses the client's certificate (or requires one) and a TLS server spoken to in plain
//! HTTP both just close the connection after accepting it, which looks like a server going
//! away. When connecting, the backend asks again once; if the server closes the connection
//! again, it is not going away: with `https://` endpoints that is a refused (or missing)
//! client certificate, and with `http://` ones a TLS greeting tells whether the server speaks
//! TLS (it answers with a TLS record, a handshake or an alert, where a plain etcd does not).

use std::time::Duration;

use kvstore_core::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the plain HTTP question may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The error to report for a connection `endpoint` accepted and then closed twice.
pub(crate) async fn diagnose(endpoint: &str, closed: Error) -> Error {
    if endpoint.starts_with("https://") {
        return Error::Tls {
            message: format!(
                "etcd at {endpoint} closed the TLS connection after the handshake: it refused \
                 this client's certificate, or requires one (--client-cert-auth)"
            ),
        };
    }
    let address = endpoint.trim_start_matches("http://").trim_end_matches('/');
    match tokio::time::timeout(PROBE_TIMEOUT, speaks_tls(address)).await {
        Ok(true) => Error::Tls {
            message: format!(
                "etcd at {endpoint} speaks TLS: use an https:// endpoint (an etcds:// URL)"
            ),
        },
        _ => closed,
    }
}

/// A minimal TLS 1.2 ClientHello (one cipher suite, no extensions): any TLS server answers it
/// with a TLS record, a ServerHello or an alert.
const CLIENT_HELLO: [u8; 52] = {
    let mut hello = [0u8; 52];
    // Record: handshake, TLS 1.0 record version, 47 bytes.
    hello[0] = 0x16;
    hello[1] = 0x03;
    hello[2] = 0x01;
    hello[4] = 47;
    // Handshake: ClientHello, 43 bytes; client version TLS 1.2.
    hello[5] = 0x01;
    hello[8] = 43;
    hello[9] = 0x03;
    hello[10] = 0x03;
    // 32 bytes of random (zeros), an empty session id, then one cipher suite:
    // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256.
    hello[44] = 0x02;
    hello[45] = 0xc0;
    hello[46] = 0x2b;
    // One compression method (none); no extensions.
    hello[47] = 0x01;
    hello
};

/// Whether the server at `address` answers a TLS greeting with a TLS record.
async fn speaks_tls(address: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(address).await else {
        return false;
    };
    if stream.write_all(&CLIENT_HELLO).await.is_err() {
        return false;
    }
    let mut first = [0u8; 3];
    match stream.read_exact(&mut first).await {
        // A handshake or an alert record, of some TLS version.
        Ok(_) => matches!(first, [0x15 | 0x16, 0x03, _]),
        Err(_) => false,
    }
}
