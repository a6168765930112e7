//! The ZooKeeper fixture serves, dies with `SIGKILL`, and serves again on restart.
#![cfg(feature = "zookeeper")]
#![allow(clippy::print_stderr)] // says why the test is skipped outside CI

use kvstore_testkit::zookeeper::{answers, existing_ensemble, ZooKeeperServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_serves_dies_and_comes_back() {
    if existing_ensemble().is_some() {
        return eprintln!("skipping: kills its server, which an existing ensemble must not get");
    }
    let mut server = match ZooKeeperServer::start().await {
        Ok(server) => server,
        Err(skipped) => return eprintln!("{skipped}"),
    };
    let endpoint = server.endpoint();
    assert!(answers(&endpoint));
    server.kill();
    assert!(!answers(&endpoint), "a killed server does not answer");
    server.restart().await;
    assert!(answers(&endpoint));
}
