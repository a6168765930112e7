//! Histories of concurrent clients on one SQLite file through two stores (as two processes
//! would share it), checked for linearizability and the watch guarantees: healthy, calls
//! dropped in flight, compaction during the run, and a lease expiring while its holder pauses.

use std::path::Path;
use std::time::Duration;

use kvstore_codec::Json;
use kvstore_core::Store;
use kvstore_sqlite::{SqliteBackend, SqliteConfig};
use kvstore_testkit::history::faults::compact_behind;
use kvstore_testkit::history::{run, Workload};

fn workload() -> Workload {
    Workload::new(8, 100).scaled()
}

async fn store(path: &Path) -> Store<Json> {
    let config = SqliteConfig::new(path).poll_interval(Duration::from_millis(20));
    Store::new(
        SqliteBackend::open(config).await.expect("the store opens"),
        Json,
    )
}

/// Two stores on one file in a temporary directory (kept as long as the directory).
async fn two_stores() -> (tempfile::TempDir, [Store<Json>; 2]) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("store.db");
    let stores = [store(&path).await, store(&path).await];
    (dir, stores)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_file_are_linearizable() {
    let (_dir, stores) = two_stores().await;
    run("sqlite-healthy", &stores, workload(), async {})
        .await
        .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_dropped_in_flight_break_nothing() {
    let (_dir, stores) = two_stores().await;
    let workload = workload().cancelling(6, Duration::from_millis(2));
    run("sqlite-cancellation", &stores, workload, async {})
        .await
        .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_during_the_run_breaks_nothing() {
    let (_dir, stores) = two_stores().await;
    let faults = compact_behind(&stores[0], 10, Duration::from_millis(50));
    run(
        "sqlite-compaction",
        &stores,
        workload().compacting(),
        faults,
    )
    .await
    .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_expiring_during_a_pause_breaks_nothing() {
    let (_dir, stores) = two_stores().await;
    let workload = workload().expiring_lease(Duration::from_secs(1));
    run("sqlite-lease-expiry", &stores, workload, async {})
        .await
        .assert_passed();
}
