//! A lease whose owner died is expired by the other clients, and its keys' Delete events are
//! written exactly once however many clients look for expired leases.
#![allow(clippy::print_stderr)] // says why a test is skipped outside CI

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use kvstore_core::backend::{
    Backend, EventType, PutLease, RangeRequest, Txn, TxnOp, WatchItem, WatchRequest,
};
use kvstore_testkit::until_answered;
use kvstore_testkit::zookeeper::TestZooKeeper;
use kvstore_zookeeper::ZooKeeperBackend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_owners_lease_expires_once_with_several_clients_watching() {
    let zk = match TestZooKeeper::shared().await {
        Ok(zk) => zk,
        Err(skipped) => {
            eprintln!("{skipped}");
            return;
        }
    };
    let connect = || async {
        let config = zk.config().lease_check_interval(Duration::from_millis(100));
        until_answered(|| ZooKeeperBackend::connect(config.clone())).await
    };
    let owner = connect().await;
    let lease = owner.lease_grant(Duration::from_secs(2)).await.unwrap();
    let mut txn = Txn::default();
    for n in 0..3 {
        txn = txn.then(TxnOp::put(
            format!("/owned/{n}"),
            Bytes::from_static(b"x"),
            PutLease::Attach(lease.id),
        ));
    }
    let written = owner.txn(txn).await.unwrap().revision;
    // The owner dies: no revoke, no renewal. Four other clients look for expired leases.
    drop(owner);
    let others = [
        connect().await,
        connect().await,
        connect().await,
        connect().await,
    ];
    let mut watch = others[0]
        .watch(WatchRequest::directory("/owned", written + 1))
        .await
        .unwrap();
    let mut deleted = Vec::new();
    while deleted.len() < 3 {
        let item = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("the lease expires within its ttl and a check")
            .unwrap()
            .unwrap();
        if let WatchItem::Event(event) = item {
            assert_eq!(event.kind, EventType::Deleted);
            assert_eq!(event.prev_kv.unwrap().lease, Some(lease.id));
            deleted.push((event.kv.mod_revision, event.kv.key));
        }
    }
    // One revision for all three keys, and nothing after it.
    assert!(deleted
        .iter()
        .all(|(revision, _)| *revision == deleted[0].0));
    assert_eq!(deleted[0].0, written + 1, "nothing else was written");
    assert!(tokio::time::timeout(Duration::from_secs(1), watch.next())
        .await
        .is_err());
    for other in &others {
        assert_eq!(other.current_revision().await.unwrap(), written + 1);
        let read = other
            .range(RangeRequest::directory("/owned"))
            .await
            .unwrap();
        assert!(read.kvs.is_empty());
        assert!(other
            .lease_renew(lease.id)
            .await
            .unwrap_err()
            .is_lease_not_found());
    }
}
