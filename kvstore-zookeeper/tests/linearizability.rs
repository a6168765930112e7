//! Histories of concurrent clients on real ZooKeeper, checked for linearizability and the
//! watch guarantees, one fault per scenario: none, `SIGKILL` and restart, a member of a
//! three-member ensemble (then the leader) killed, a proxy that delays, holds and cuts
//! connections, calls dropped in flight, compaction during the run, and a lease expiring
//! while its holder pauses.

use std::time::Duration;

use kvstore_codec::Json;
use kvstore_core::Store;
use kvstore_testkit::history::faults::{compact_behind, misbehave};
use kvstore_testkit::history::{run, Workload};
use kvstore_testkit::proxy::Proxy;
use kvstore_testkit::zookeeper::{TestZooKeeper, ZooKeeperEnsemble, ZooKeeperServer};
use kvstore_testkit::{or_skip, until_answered};
use kvstore_zookeeper::{ZooKeeperBackend, ZooKeeperConfig};

/// Clients and calls of each scenario (times `KVSTORE_HISTORY_SCALE` in the long mode).
fn workload() -> Workload {
    Workload::new(8, 100).scaled()
}

fn config(endpoints: Vec<String>) -> ZooKeeperConfig {
    ZooKeeperConfig::new(endpoints)
        .root("/histories")
        .request_timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_secs(5))
}

async fn store(config: ZooKeeperConfig) -> Store<Json> {
    let backend = until_answered(|| ZooKeeperBackend::connect(config.clone())).await;
    Store::new(backend, Json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_zookeeper_is_linearizable() {
    let Some(zookeeper) = or_skip(TestZooKeeper::shared().await) else {
        return;
    };
    let stores = [
        store(zookeeper.config()).await,
        store(zookeeper.config()).await,
    ];
    run("zookeeper-healthy", &stores, workload(), async {})
        .await
        .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_zookeeper_loses_nothing_acknowledged() {
    let Some(mut server) = or_skip(ZooKeeperServer::start().await) else {
        return;
    };
    let stores = [
        store(config(vec![server.endpoint()])).await,
        store(config(vec![server.endpoint()])).await,
    ];
    let faults = async {
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.kill();
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.restart().await;
        }
    };
    run("zookeeper-kill-restart", &stores, workload(), faults)
        .await
        .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_a_member_then_the_leader_of_an_ensemble_loses_nothing_acknowledged() {
    let Some(mut ensemble) = or_skip(ZooKeeperEnsemble::start().await) else {
        return;
    };
    // Each client's store reaches every member, from a different first one.
    let mut stores = Vec::new();
    for first in 0..3 {
        let mut endpoints = ensemble.endpoints();
        endpoints.rotate_left(first);
        stores.push(store(config(endpoints)).await);
    }
    let faults = async {
        // A follower first, then the leader.
        for follower in [true, false] {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let leader = ensemble.leader().unwrap_or(0);
            let member = if follower { (leader + 1) % 3 } else { leader };
            ensemble.kill(member);
            tokio::time::sleep(Duration::from_secs(1)).await;
            ensemble.restart(member).await;
        }
    };
    run("zookeeper-ensemble-kill", &stores, workload(), faults)
        .await
        .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_that_delays_holds_and_cuts_loses_nothing_acknowledged() {
    let Some(server) = or_skip(ZooKeeperServer::start().await) else {
        return;
    };
    let proxy = Proxy::start(server.endpoint()).await;
    let through = config(vec![proxy.endpoint().to_owned()]).session_timeout(Duration::from_secs(4));
    let stores = [
        store(through).await,
        store(config(vec![server.endpoint()])).await,
    ];
    let workload = workload();
    let faults = misbehave(&proxy, workload.seed);
    run("zookeeper-proxy", &stores, workload, faults)
        .await
        .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_dropped_in_flight_break_nothing() {
    let Some(zookeeper) = or_skip(TestZooKeeper::shared().await) else {
        return;
    };
    let stores = [store(zookeeper.config()).await];
    let workload = workload().cancelling(6, Duration::from_millis(3));
    run("zookeeper-cancellation", &stores, workload, async {})
        .await
        .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_during_the_run_breaks_nothing() {
    let Some(server) = or_skip(ZooKeeperServer::start().await) else {
        return;
    };
    let stores = [store(config(vec![server.endpoint()])).await];
    let faults = compact_behind(&stores[0], 10, Duration::from_millis(100));
    run(
        "zookeeper-compaction",
        &stores,
        workload().compacting(),
        faults,
    )
    .await
    .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_expiring_during_a_pause_breaks_nothing() {
    let Some(zookeeper) = or_skip(TestZooKeeper::shared().await) else {
        return;
    };
    let stores = [
        store(zookeeper.config()).await,
        store(zookeeper.config()).await,
    ];
    let workload = workload().expiring_lease(Duration::from_secs(2));
    run("zookeeper-lease-expiry", &stores, workload, async {})
        .await
        .assert_passed();
}
