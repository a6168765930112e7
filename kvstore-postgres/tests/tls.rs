//! TLS to a real PostgreSQL that takes only TLS over TCP, with certificates made at run time:
//! a store trusting the server's CA connects (over TLS: the server refuses anything else) and
//! works, by URL too; a server certificate from another CA, one for another name, or plain TCP
//! are refused with a typed, non-retryable error. A server that authenticates clients by
//! certificate takes the store's, and refuses a store without one.
#![allow(clippy::print_stderr)] // says why a test is skipped outside CI

use std::path::PathBuf;

use kvstore_codec::Json;
use kvstore_core::config::TlsFiles;
use kvstore_core::{Store, StoreConfig};
use kvstore_postgres::{PostgresBackend, PostgresConfig};
use kvstore_testkit::postgres::{PostgresServer, DATABASE, PASSWORD, USER};
use kvstore_testkit::tls::{Authority, CaFiles};

struct Setup {
    server: PostgresServer,
    files: CaFiles,
}

async fn setup(names: &[&str]) -> Option<Setup> {
    let ca = Authority::new("kvstore test CA");
    let (cert, key) = ca.issue(names, false);
    let server = kvstore_testkit::or_skip(PostgresServer::start_tls(&cert, &key).await)?;
    Some(Setup {
        server,
        files: ca.write_files(),
    })
}

fn config(setup: &Setup, host: &str, ca: Option<&PathBuf>) -> PostgresConfig {
    let config = PostgresConfig::new(host, setup.server.port(), USER, DATABASE).password(PASSWORD);
    match ca {
        Some(ca) => config.tls(TlsFiles {
            ca: Some(ca.clone()),
            ..TlsFiles::default()
        }),
        None => config,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_trusting_the_servers_ca_works_over_tls() {
    let Some(setup) = setup(&["localhost"]).await else {
        return;
    };
    let backend = PostgresBackend::connect(config(&setup, "localhost", Some(&setup.files.ca)))
        .await
        .unwrap();
    let store = Store::new(backend, Json);
    store.health().await.unwrap();

    let url = format!(
        "postgres://{USER}:{PASSWORD}@localhost:{}/{DATABASE}?ca={}&schema=by_url",
        setup.server.port(),
        setup.files.ca.display()
    );
    let by_url = PostgresConfig::from_store_config(&StoreConfig::from_url(&url).unwrap()).unwrap();
    let store = Store::new(PostgresBackend::connect(by_url).await.unwrap(), Json);
    store.health().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificates_and_plain_tcp_are_refused_typed() {
    let Some(setup) = setup(&["localhost"]).await else {
        return;
    };
    // A server certificate from another CA.
    let err = PostgresBackend::connect(config(&setup, "localhost", Some(&setup.files.other_ca)))
        .await
        .unwrap_err();
    assert!(err.is_tls(), "{err}");
    assert!(!err.is_retryable());
    // A certificate for another name (the server is reached as 127.0.0.1, its certificate
    // names localhost only).
    let err = PostgresBackend::connect(config(&setup, "127.0.0.1", Some(&setup.files.ca)))
        .await
        .unwrap_err();
    assert!(err.is_tls(), "{err}");
    // Plain TCP: the server takes TLS only.
    let err = PostgresBackend::connect(config(&setup, "localhost", None))
        .await
        .unwrap_err();
    assert!(err.is_unauthenticated(), "{err}");
    assert!(!err.to_string().contains(PASSWORD), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_authenticates_the_store() {
    let ca = Authority::new("kvstore test CA");
    let (cert, key) = ca.issue(&["localhost"], false);
    let server = match PostgresServer::start_mutual_tls(&cert, &key, &ca.pem).await {
        Ok(server) => server,
        Err(skipped) => return eprintln!("{skipped}"),
    };
    let files = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: &str| {
        let path = files.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let ca_file = write("ca.pem", &ca.pem);
    let (client_cert, client_key) = ca.issue_client(USER);
    let identity = TlsFiles {
        ca: Some(ca_file.clone()),
        cert: Some(write("client.pem", &client_cert)),
        key: Some(write("client-key.pem", &client_key)),
    };
    // No password: the certificate is the credential.
    let config = PostgresConfig::new("localhost", server.port(), USER, DATABASE).tls(identity);
    let store = Store::new(PostgresBackend::connect(config).await.unwrap(), Json);
    store.health().await.unwrap();

    let without = PostgresConfig::new("localhost", server.port(), USER, DATABASE)
        .password(PASSWORD)
        .tls(TlsFiles {
            ca: Some(ca_file),
            ..TlsFiles::default()
        });
    let err = PostgresBackend::connect(without).await.unwrap_err();
    assert!(err.is_unauthenticated() || err.is_tls(), "{err}");
    assert!(!err.is_retryable());
}
