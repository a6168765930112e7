//! What etcd itself refuses as too large is a clear, non-retryable error — never
//! `Unavailable`, which a caller would retry forever.
#![allow(clippy::print_stderr)] // says why the test is skipped outside CI

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use kvstore_codec::Json;
use kvstore_core::backend::{Backend, PutLease, Txn, TxnOp};
use kvstore_core::conformance::widget;
use kvstore_core::{Store, WatchEvent, WatchFrom};
use kvstore_testkit::etcd::TestEtcd;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_etcds_limit_is_not_retryable() {
    let etcd = match TestEtcd::shared().await {
        Ok(etcd) => etcd,
        Err(skipped) => return eprintln!("{skipped}"),
    };
    let backend = etcd.backend().await;
    // Over etcd's default --max-request-bytes (1.5 MiB), through the raw contract.
    let value = Bytes::from(vec![b'x'; 1_800_000]);
    let txn = Txn::default().then(TxnOp::put("/limits/raw", value, PutLease::Detach));
    let err = backend.txn(txn).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(!err.is_unavailable(), "{err}");
    assert!(err.to_string().contains("too large"), "{err}");

    // A store whose own limit was raised above etcd's meets etcd's refusal the same way, also
    // past the gRPC message limit (2 MiB).
    let store = Store::new(backend, Json).with_max_value_size(4 << 20);
    let err = store
        .create("/limits/typed", &widget("typed", &"x".repeat(3 << 20)))
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(!err.is_unavailable(), "{err}");
}

/// Deleting a directory whose values add up to more than gRPC's default 4 MiB message works,
/// and a watch of the directory receives every delete: etcd answers the delete with the
/// previous values, and sends the watch one response for the revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_larger_than_a_grpc_message_is_deleted_and_watched() {
    const KEYS: usize = 100;
    let etcd = match TestEtcd::shared().await {
        Ok(etcd) => etcd,
        Err(skipped) => return eprintln!("{skipped}"),
    };
    let store = Store::new(etcd.backend().await, Json);
    let fill = "x".repeat(60_000); // 100 × 60 kB: 6 MB of values
    for i in 0..KEYS {
        let name = format!("w{i:03}");
        store
            .create(&format!("/big/{name}"), &widget(&name, &fill))
            .await
            .unwrap();
    }
    let mut events = store
        .watch_prefix::<kvstore_core::conformance::Widget>("/big", WatchFrom::Now)
        .await
        .unwrap();
    assert_eq!(store.delete_prefix("/big").await.unwrap(), KEYS);
    for _ in 0..KEYS {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("every delete is delivered")
            .expect("the watch goes on")
            .unwrap();
        assert!(matches!(event, WatchEvent::Deleted(_)), "{event:?}");
    }
}
