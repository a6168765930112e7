//! The whole conformance suite against a real etcd: each case gets a fresh etcd process (or,
//! with `KVSTORE_ETCD_ENDPOINTS`, a namespace of its own on an existing cluster).
#![cfg(feature = "etcd-tests")]
#![allow(clippy::print_stderr)] // says why a case is skipped outside CI

use kvstore::conformance::Fixture;
use kvstore::etcd::testing::TestEtcd;
use kvstore::{Json, Store};

kvstore::conformance_suite!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    |_isolation| async {
        let etcd = match TestEtcd::start().await {
            Ok(etcd) => etcd,
            Err(skipped) => {
                eprintln!("{skipped}");
                return None;
            }
        };
        let store = Store::new(etcd.backend().await, Json);
        Some(Fixture::with_guard(store, etcd))
    }
);
