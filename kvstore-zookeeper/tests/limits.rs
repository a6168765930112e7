//! What ZooKeeper would refuse, the backend handles: keys that are no valid znode name, values
//! over ZooKeeper's 1 MiB `jute.maxbuffer`, bytes that are not text; and data in its znodes it
//! did not write is a typed error naming the znode, never a panic.
#![allow(clippy::print_stderr)] // says why a test is skipped outside CI

use bytes::Bytes;
use futures::StreamExt;
use kvstore_core::backend::{
    Backend, EventType, PutLease, RangeRequest, Txn, TxnOp, WatchItem, WatchRequest,
};
use kvstore_core::key::validate_key;
use kvstore_testkit::zookeeper::TestZooKeeper;
use kvstore_zookeeper::zookeeper_client as zk;
use kvstore_zookeeper::{ZooKeeperBackend, ZooKeeperConfig};

async fn backend() -> Option<(ZooKeeperBackend, TestZooKeeper)> {
    let zk = match TestZooKeeper::shared().await {
        Ok(zk) => zk,
        Err(skipped) => {
            eprintln!("{skipped}");
            return None;
        }
    };
    Some((zk.backend().await, zk))
}

async fn put(backend: &ZooKeeperBackend, key: &str, value: Bytes) -> u64 {
    let txn = Txn::default().then(TxnOp::put(key, value, PutLease::Detach));
    backend.txn(txn).await.unwrap().revision
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_the_contract_accepts_is_stored_read_listed_and_watched() {
    let Some((backend, _zk)) = backend().await else {
        return;
    };
    let long = format!("/k/{}", "é".repeat(500));
    let keys = [
        "/k/zookeeper",
        "/k/a b",
        "/k/%41%",
        "/k/...",
        "/k/ü/\u{1}/tab\t",
        "/k/~1",
        "/k/-",
        long.as_str(),
    ];
    let mut watch = backend
        .watch(WatchRequest::directory("/k", 0))
        .await
        .unwrap();
    for (n, key) in keys.iter().enumerate() {
        validate_key(key).unwrap();
        put(&backend, key, Bytes::from(format!("v{n}"))).await;
    }
    for (n, key) in keys.iter().enumerate() {
        let read = backend.range(RangeRequest::key(*key)).await.unwrap();
        assert_eq!(read.kvs[0].value, format!("v{n}").as_bytes(), "{key:?}");
        let event = watch.next().await.unwrap().unwrap();
        let Some(event) = event.into_event() else {
            panic!("an event")
        };
        assert_eq!(
            (event.kind, event.kv.key.as_str()),
            (EventType::Added, *key)
        );
    }
    let listed = backend.range(RangeRequest::directory("/k")).await.unwrap();
    let mut expected: Vec<&str> = keys.to_vec();
    expected.sort_unstable();
    let got: Vec<&str> = listed.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(got, expected, "in key order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_over_a_znode_and_a_request_and_bytes_that_are_not_text_round_trip() {
    let Some((backend, _zk)) = backend().await else {
        return;
    };
    let pattern = |len: usize, seed: u8| -> Bytes {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    };
    let cases = [
        ("/v/binary-small", pattern(300, 7)),
        ("/v/one-chunk", pattern(512 * 1024, 1)),
        ("/v/one-chunk-and-a-byte", pattern(512 * 1024 + 1, 2)),
        ("/v/one-and-a-half-mib", pattern(1536 * 1024, 3)),
    ];
    let mut watch = backend
        .watch(WatchRequest::directory("/v", 0))
        .await
        .unwrap();
    for (key, value) in &cases {
        put(&backend, key, value.clone()).await;
    }
    // Two large values in one transaction: more than one ZooKeeper request can carry.
    let pair = Txn::default()
        .then(TxnOp::put(
            "/v/pair-a",
            pattern(1 << 20, 4),
            PutLease::Detach,
        ))
        .then(TxnOp::put(
            "/v/pair-b",
            pattern(1 << 20, 5),
            PutLease::Detach,
        ));
    let pair_revision = backend.txn(pair).await.unwrap().revision;
    for (key, value) in &cases {
        let read = backend.range(RangeRequest::key(*key)).await.unwrap();
        assert!(read.kvs[0].value == *value, "{key}: the bytes written");
        match watch.next().await.unwrap().unwrap() {
            WatchItem::Event(event) => assert!(event.kv.value == *value, "{key} watched"),
            other => panic!("{other:?}"),
        }
    }
    let both = backend.range(RangeRequest::directory("/v")).await.unwrap();
    let pair: Vec<_> = both
        .kvs
        .iter()
        .filter(|kv| kv.key.starts_with("/v/pair"))
        .collect();
    assert_eq!(pair.len(), 2);
    assert!(pair.iter().all(|kv| kv.mod_revision == pair_revision));
    assert!(pair[0].value == pattern(1 << 20, 4) && pair[1].value == pattern(1 << 20, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn znodes_changed_by_hand_are_a_typed_error_naming_the_znode() {
    let Some((backend, zk)) = backend().await else {
        return;
    };
    put(&backend, "/c/a", Bytes::from_static(b"fine")).await;
    let raw = zk.raw_client().await;
    let path = format!("{}/keys/d%2Fc/a", zk.root());
    raw.set_data(&path, b"\xff not json", None).await.unwrap();
    for read in [RangeRequest::key("/c/a"), RangeRequest::directory("/c")] {
        let err = backend.range(read).await.unwrap_err();
        assert!(err.to_string().contains(&path), "{err}");
        assert!(!err.is_retryable(), "{err}");
    }
    raw.set_data(&format!("{}/head", zk.root()), b"-3", None)
        .await
        .unwrap();
    let err = backend.current_revision().await.unwrap_err();
    assert!(err.to_string().contains("/head"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_small_values_in_one_transaction_or_many_at_once_fit_in_requests() {
    let Some((backend, _zk)) = backend().await else {
        return;
    };
    // JSON-like text, whose quotes double when escaped in the records.
    let value = |n: usize| Bytes::from(format!("{{\"n\":{n},\"s\":\"{}\"}}", "\"".repeat(3800)));
    // One transaction of 100 puts of ~3.8 KiB: 380 KiB of values.
    let mut txn = Txn::default();
    for n in 0..100 {
        txn = txn.then(TxnOp::put(
            format!("/many/one/{n:03}"),
            value(n),
            PutLease::Detach,
        ));
    }
    backend.txn(txn).await.unwrap();
    // 200 concurrent single puts: batches the writer must split to fit requests.
    let puts = (0..200).map(|n| {
        let backend = backend.clone();
        async move { put(&backend, &format!("/many/each/{n:03}"), value(n)).await }
    });
    let revisions = futures::future::join_all(puts).await;
    let mut sorted = revisions.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 200, "every put has a revision of its own");
    for prefix in ["/many/one", "/many/each"] {
        let read = backend
            .range(RangeRequest::directory(prefix))
            .await
            .unwrap();
        for kv in &read.kvs {
            let n: usize = kv.key.rsplit('/').next().unwrap().parse().unwrap();
            assert!(kv.value == value(n), "{}", kv.key);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_live_in_one_directory_per_parent() {
    let Some((backend, zk)) = backend().await else {
        return;
    };
    for prefix in 0..10 {
        for n in 0..5 {
            put(
                &backend,
                &format!("/p{prefix}/k{n}"),
                Bytes::from_static(b"v"),
            )
            .await;
        }
    }
    put(&backend, "/p3/deeper/k", Bytes::from_static(b"v")).await;
    let raw = zk.raw_client().await;
    let mut dirs = raw
        .list_children(&format!("{}/keys", zk.root()))
        .await
        .unwrap();
    dirs.sort();
    assert_eq!(dirs.len(), 11, "one znode per directory: {dirs:?}");
    assert!(dirs.contains(&"d%2Fp3%2Fdeeper".to_owned()), "{dirs:?}");
    let p3 = backend.range(RangeRequest::directory("/p3")).await.unwrap();
    let keys: Vec<_> = p3.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "/p3/deeper/k",
            "/p3/k0",
            "/p3/k1",
            "/p3/k2",
            "/p3/k3",
            "/p3/k4"
        ]
    );
    let mut page = RangeRequest::directory("/p3");
    page.limit = 2;
    let first = backend.range(page).await.unwrap();
    assert!(first.more);
    assert_eq!(first.kvs.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_the_first_layout_is_refused() {
    let Some((_backend, zk)) = backend().await else {
        return;
    };
    let root = format!("{}-first-layout", zk.root());
    let raw = zk.raw_client().await;
    let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    for path in [
        root.clone(),
        format!("{root}/keys"),
        format!("{root}/keys/%2Fold"),
    ] {
        raw.create(&path, b"", &options).await.unwrap();
    }
    let config = ZooKeeperConfig::new(zk.endpoints()).root(&root);
    let err = ZooKeeperBackend::connect(config).await.unwrap_err();
    assert!(err.is_unsupported(), "{err}");
    assert!(err.to_string().contains(&root), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_of_a_key_another_client_made_is_refused_and_writes_nothing() {
    use kvstore_core::backend::Compare;
    let Some((ours, zk)) = backend().await else {
        return;
    };
    let theirs = zk.backend().await;
    put(&theirs, "/made/x", Bytes::from_static(b"theirs")).await;
    // This client knows the head (from a read of another key) but not /x: it creates /x
    // without reading it first, and ZooKeeper refuses the key's creation.
    ours.range(RangeRequest::key("/made/other")).await.unwrap();
    let create = Txn::when([Compare::absent("/made/x")])
        .then(TxnOp::put(
            "/made/x",
            Bytes::from_static(b"ours"),
            PutLease::Detach,
        ))
        .otherwise(TxnOp::get("/made/x"));
    let answer = ours.txn(create).await.unwrap();
    assert!(!answer.succeeded);
    assert_eq!(answer.read_value().unwrap().value.as_ref(), b"theirs");
}
