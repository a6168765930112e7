//! Histories of concurrent clients on the memory store, checked for linearizability and the
//! watch guarantees: healthy, with answers lost and clients cut off, compacted during the run,
//! and with a lease expiring while its holder pauses.

use std::time::Duration;

use kvstore_codec::Json;
use kvstore_core::conformance::Partition;
use kvstore_core::Store;
use kvstore_memory::MemoryBackend;
use kvstore_testkit::history::faults::compact_behind;
use kvstore_testkit::history::{run, Workload};

fn store() -> Store<Json> {
    Store::new(MemoryBackend::new(), Json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_store_is_linearizable() {
    let workload = Workload::new(8, 150).scaled();
    run("memory-healthy", &[store()], workload, async {})
        .await
        .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_and_partitions_break_nothing() {
    let store = store();
    let partition = Partition::default();
    let cut_off = partition.wrap(&store);
    let workload = Workload::new(8, 150)
        .scaled()
        .paced(Duration::from_millis(2));
    let mut rng = fastrand::Rng::with_seed(workload.seed);
    let faults = async {
        for round in 0..40 {
            tokio::time::sleep(Duration::from_millis(rng.u64(1..10))).await;
            // The answer of a write is lost, after it was applied or before it was sent.
            partition.lose_next_answer(rng.bool());
            if round % 8 == 7 {
                partition.cut();
                tokio::time::sleep(Duration::from_millis(rng.u64(1..20))).await;
                partition.heal();
            }
        }
    };
    let stores = [cut_off, store.clone()];
    run("memory-partitions", &stores, workload, faults)
        .await
        .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_during_the_run_breaks_nothing() {
    let store = store();
    let workload = Workload::new(8, 150).scaled().compacting();
    let faults = compact_behind(&store, 20, Duration::from_millis(5));
    run(
        "memory-compaction",
        std::slice::from_ref(&store),
        workload,
        faults,
    )
    .await
    .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_expiring_during_a_pause_breaks_nothing() {
    let stores = [store()];
    let workload = Workload::new(8, 150)
        .scaled()
        .expiring_lease(Duration::from_secs(1));
    run("memory-lease-expiry", &stores, workload, async {})
        .await
        .assert_passed();
}
