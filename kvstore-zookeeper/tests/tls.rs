//! TLS to a real ZooKeeper's secure client port (Netty), with certificates made in the test:
//! a store trusting the server's CA works, by configuration and by URL; another CA, plain TCP
//! to the TLS port and TLS to the plain port are refused.

use std::path::Path;
use std::time::Duration;

use kvstore_codec::Json;
use kvstore_core::conformance::{widget, Widget};
use kvstore_core::{Store, StoreConfig, TlsFiles};
use kvstore_testkit::tls::{Authority, CaFiles};
use kvstore_testkit::zookeeper::ZooKeeperServer;
use kvstore_zookeeper::{ZooKeeperBackend, ZooKeeperConfig};

struct Setup {
    server: ZooKeeperServer,
    files: CaFiles,
}

async fn setup() -> Option<Setup> {
    let ca = Authority::new("kvstore test CA");
    let (cert, key) = ca.issue(&["127.0.0.1"], false);
    let server = kvstore_testkit::or_skip(ZooKeeperServer::start_tls(&cert, &key).await)?;
    Some(Setup {
        server,
        files: ca.write_files(),
    })
}

fn trusting(endpoint: String, ca: &Path) -> ZooKeeperConfig {
    ZooKeeperConfig::new([endpoint])
        .root("/tls")
        .connect_timeout(Duration::from_secs(3))
        .tls(TlsFiles {
            ca: Some(ca.to_path_buf()),
            ..TlsFiles::default()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_trusting_the_servers_ca_works_over_tls() {
    let Some(setup) = setup().await else { return };
    let secure = setup.server.secure_endpoint().unwrap();
    let backend = ZooKeeperBackend::connect(trusting(secure.clone(), &setup.files.ca))
        .await
        .unwrap();
    let widgets = Store::new(backend, Json)
        .collection::<Widget>("/widgets")
        .unwrap();
    widgets.create(&widget("a", "red")).await.unwrap();
    assert_eq!(widgets.get("a").await.unwrap().color, "red");

    let url = format!("zks://{secure}/tls?ca={}", setup.files.ca.display());
    let config = ZooKeeperConfig::from_store_config(&StoreConfig::from_url(&url).unwrap()).unwrap();
    let store = Store::new(ZooKeeperBackend::connect(config).await.unwrap(), Json);
    assert_eq!(
        store.get::<Widget>("/widgets/a").await.unwrap().color,
        "red"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_ca_and_mismatched_ports_are_refused() {
    let Some(setup) = setup().await else { return };
    let secure = setup.server.secure_endpoint().unwrap();
    let plain = setup.server.endpoint();
    for (what, config) in [
        (
            "another CA",
            trusting(secure.clone(), &setup.files.other_ca),
        ),
        ("TLS to the plain port", trusting(plain, &setup.files.ca)),
        (
            "plain TCP to the TLS port",
            ZooKeeperConfig::new([secure.clone()])
                .root("/tls")
                .connect_timeout(Duration::from_secs(3)),
        ),
    ] {
        let err = ZooKeeperBackend::connect(config)
            .await
            .err()
            .unwrap_or_else(|| panic!("{what}: connected"));
        if what != "plain TCP to the TLS port" {
            assert!(err.to_string().contains("over TLS"), "{what}: {err}");
        }
        // zookeeper-client retries a failed handshake until the connect timeout without saying
        // why: the store reports no session, and names TLS as the likely cause.
        assert!(err.is_unavailable(), "{what}: {err}");
    }
    let missing = trusting(secure, &setup.files.ca.with_file_name("missing.pem"));
    let err = ZooKeeperBackend::connect(missing).await.unwrap_err();
    assert!(err.is_invalid_config(), "{err}");
}
