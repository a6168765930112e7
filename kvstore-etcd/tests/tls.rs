//! TLS to a real etcd with certificates made at run time: server-authenticated TLS and mutual
//! TLS work; a client certificate from another CA, a server certificate for another name, an
//! expired server certificate and plain HTTP against a TLS port each fail fast with a typed,
//! non-retryable error.
#![cfg(feature = "tls")]
#![allow(clippy::print_stderr)] // says why a test is skipped outside CI

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kvstore_codec::Json;
use kvstore_core::conformance::{widget, Widget};
use kvstore_core::{Error, Store, StoreConfig};
use kvstore_etcd::{EtcdBackend, EtcdConfig};
use kvstore_testkit::etcd::{local_etcd, EtcdCluster};
use kvstore_testkit::tls::Authority;

/// How long a failing connection may take: well under the connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);

/// The PEM files of one test.
struct Files(tempfile::TempDir);

impl Files {
    fn write(&self, name: &str, pem: &str) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    }
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// An etcd serving TLS with a certificate for `names` from `ca` (expired if asked), requiring
/// client certificates from `ca` when `mutual`.
async fn server(
    ca: &Authority,
    files: &Files,
    names: &[&str],
    expired: bool,
    mutual: bool,
) -> EtcdCluster {
    let (cert, key) = ca.issue(names, expired);
    let (cert, key, ca_file) = (
        files.write("server.pem", &cert),
        files.write("server-key.pem", &key),
        files.write("ca.pem", &ca.pem),
    );
    let mut args = vec!["--cert-file", arg(&cert), "--key-file", arg(&key)];
    if mutual {
        args.extend(["--client-cert-auth", "--trusted-ca-file", arg(&ca_file)]);
    }
    EtcdCluster::start_with(1, &args).await
}

/// The store URL of `cluster` over TLS, trusting `ca`, with a client identity if given.
fn url(cluster: &EtcdCluster, ca: &Path, identity: Option<(&Path, &Path)>) -> String {
    let host = cluster.endpoint(0).replace("https://", "");
    let mut url = format!(
        "etcds://{host}?ca={}&connect_timeout={}ms",
        arg(ca),
        CONNECT_TIMEOUT.as_millis()
    );
    if let Some((cert, key)) = identity {
        url.push_str(&format!("&cert={}&key={}", arg(cert), arg(key)));
    }
    url
}

async fn connect(url: &str) -> kvstore_core::Result<Store<Json>> {
    let config = EtcdConfig::from_store_config(&StoreConfig::from_url(url)?)?;
    Ok(Store::new(EtcdBackend::connect(config).await?, Json))
}

/// Connecting fails fast, typed, not retryable.
async fn refused(url: &str) -> Error {
    let started = Instant::now();
    let err = match connect(url).await {
        Ok(store) => match store.health().await {
            Ok(()) => panic!("{url} connected"),
            Err(err) => err,
        },
        Err(err) => err,
    };
    assert!(
        started.elapsed() < CONNECT_TIMEOUT,
        "took {:?}: {err}",
        started.elapsed()
    );
    assert!(!err.is_retryable(), "{err:?}");
    assert!(err.is_tls(), "{err:?}");
    err
}

async fn works(store: &Store<Json>) {
    let written = store.create("/tls/a", &widget("a", "red")).await.unwrap();
    assert_eq!(store.get::<Widget>("/tls/a").await.unwrap(), written);
}

fn files() -> Option<Files> {
    match local_etcd() {
        Ok(_) => Some(Files(tempfile::tempdir().unwrap())),
        Err(skipped) => {
            eprintln!("{skipped}");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_authenticated_tls_works_and_plain_http_is_refused() {
    let Some(files) = files() else { return };
    let ca = Authority::new("kvstore test CA");
    let cluster = server(&ca, &files, &["127.0.0.1", "localhost"], false, false).await;
    let ca_file = files.write("ca.pem", &ca.pem);
    works(&connect(&url(&cluster, &ca_file, None)).await.unwrap()).await;

    let plain = cluster.endpoint(0).replace("https://", "etcd://");
    refused(&format!(
        "{plain}?connect_timeout={}ms",
        CONNECT_TIMEOUT.as_millis()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_takes_a_client_certificate_of_its_ca_only() {
    let Some(files) = files() else { return };
    let ca = Authority::new("kvstore test CA");
    let cluster = server(&ca, &files, &["127.0.0.1"], false, true).await;
    let ca_file = files.write("ca.pem", &ca.pem);

    let (cert, key) = ca.issue(&["client"], false);
    let (cert, key) = (
        files.write("client.pem", &cert),
        files.write("client-key.pem", &key),
    );
    works(
        &connect(&url(&cluster, &ca_file, Some((&cert, &key))))
            .await
            .unwrap(),
    )
    .await;

    let other = Authority::new("another CA");
    let (cert, key) = other.issue(&["client"], false);
    let (cert, key) = (
        files.write("other.pem", &cert),
        files.write("other-key.pem", &key),
    );
    refused(&url(&cluster, &ca_file, Some((&cert, &key)))).await;
    refused(&url(&cluster, &ca_file, None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_for_another_name_is_refused() {
    let Some(files) = files() else { return };
    let ca = Authority::new("kvstore test CA");
    let cluster = server(&ca, &files, &["etcd.example"], false, false).await;
    let ca_file = files.write("ca.pem", &ca.pem);
    refused(&url(&cluster, &ca_file, None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_server_certificate_is_refused() {
    let Some(files) = files() else { return };
    let ca = Authority::new("kvstore test CA");
    let cluster = server(&ca, &files, &["127.0.0.1"], true, false).await;
    let ca_file = files.write("ca.pem", &ca.pem);
    refused(&url(&cluster, &ca_file, None)).await;
}
