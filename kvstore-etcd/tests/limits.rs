//! What etcd itself refuses as too large is a clear, non-retryable error — never
//! `Unavailable`, which a caller would retry forever.
#![allow(clippy::print_stderr)] // says why the test is skipped outside CI

use bytes::Bytes;
use kvstore_codec::Json;
use kvstore_core::backend::{Backend, PutLease, Txn, TxnOp};
use kvstore_core::conformance::widget;
use kvstore_core::Store;
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
