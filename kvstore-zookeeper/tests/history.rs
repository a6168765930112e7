//! What the log keeps on a real ZooKeeper: a small value once (in the key's record, then in
//! the change that replaced it), every past value read back from there, and a store of the
//! previous layout read as it is.

use bytes::Bytes;
use kvstore_core::backend::{Backend, EventType, PutLease, Txn, TxnOp};
use kvstore_core::engine::{EngineBacked, Storage};
use kvstore_testkit::zookeeper::TestZooKeeper;
use kvstore_zookeeper::zookeeper_client as zk;
use kvstore_zookeeper::ZooKeeperBackend;

async fn server() -> Option<TestZooKeeper> {
    kvstore_testkit::or_skip(TestZooKeeper::shared().await)
}

async fn put(backend: &ZooKeeperBackend, key: &str, value: &[u8]) -> u64 {
    let value = Bytes::copy_from_slice(value);
    let txn = Txn::default().then(TxnOp::put(key, value, PutLease::Detach));
    backend.txn(txn).await.unwrap().revision
}

async fn delete(backend: &ZooKeeperBackend, key: &str) -> u64 {
    let txn = Txn::default().then(TxnOp::delete(key));
    backend.txn(txn).await.unwrap().revision
}

/// An event expected at a revision: its kind, value and previous value.
type Expected = (u64, EventType, &'static [u8], Option<&'static [u8]>);

/// The bytes of data of every znode under `path`.
async fn stored_bytes(client: &zk::Client, path: &str) -> usize {
    let mut total = 0;
    let mut pending = vec![path.to_owned()];
    while let Some(path) = pending.pop() {
        let (data, _) = client.get_data(&path).await.unwrap();
        total += data.len();
        for child in client.list_children(&path).await.unwrap() {
            pending.push(format!("{path}/{child}"));
        }
    }
    total
}

/// A typical small object: 240 bytes of JSON, quotes and all.
fn object(n: usize, generation: u32) -> Vec<u8> {
    let mut json = format!(
        r#"{{"apiVersion":"example.com/v1","kind":"Endpoint","metadata":{{"name":"endpoint-{n:05}","uid":"5f0c7c5e-9a4e-4d8e-b1a0-{n:012}","labels":{{"app":"web"}}}},"spec":{{"address":"10.0.{}.{}","port":8080,"generation":{generation:04}"#,
        n / 256,
        n % 256
    );
    json.push_str(&" ".repeat(239usize.saturating_sub(json.len())));
    json.push('}');
    json.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_write_stores_at_most_twice_its_value() {
    let Some(zk) = server().await else { return };
    let backend = zk.backend().await;
    let client = zk.raw_client().await;
    put(&backend, "/objects/warm", &object(0, 0)).await;
    const N: usize = 50;
    let value_len = object(1, 0).len();
    assert_eq!(value_len, 240);

    let before = stored_bytes(&client, zk.root()).await;
    for n in 1..=N {
        put(&backend, &format!("/objects/o{n}"), &object(n, 0)).await;
    }
    let created = stored_bytes(&client, zk.root()).await;
    for n in 1..=N {
        put(&backend, &format!("/objects/o{n}"), &object(n, 1)).await;
    }
    let updated = stored_bytes(&client, zk.root()).await;

    let per_create = (created - before) as f64 / N as f64;
    let per_update = (updated - created) as f64 / N as f64;
    assert!(
        per_create <= 2.0 * value_len as f64,
        "a create of {value_len} bytes stored {per_create} bytes"
    );
    assert!(
        per_update <= 2.0 * value_len as f64,
        "an update of {value_len} bytes stored {per_update} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_past_value_is_read_back_from_where_the_log_keeps_it() {
    let Some(zk) = server().await else { return };
    let backend = zk.backend().await;
    let k = "/history/k";
    let r1 = put(&backend, k, b"one").await;
    let r2 = put(&backend, k, b"two").await;
    let kept = put(&backend, "/history/kept", b"live").await;
    let r3 = put(&backend, k, b"three").await;
    let r4 = delete(&backend, k).await;
    let storage = backend.engine().storage();

    // Each revision alone: the value of a put replaced later is found after the entries read.
    let expected: [Expected; 5] = [
        (r1, EventType::Added, b"one", None),
        (r2, EventType::Modified, b"two", Some(b"one")),
        (kept, EventType::Added, b"live", None),
        (r3, EventType::Modified, b"three", Some(b"two")),
        (r4, EventType::Deleted, b"", Some(b"three")),
    ];
    for (revision, kind, value, prev) in expected {
        let commits = storage.log(revision, revision).await.unwrap();
        let [commit] = commits.as_slice() else {
            panic!("{} commits at {revision}", commits.len())
        };
        let [event] = commit.events.as_slice() else {
            panic!("{} events at {revision}", commit.events.len())
        };
        assert_eq!(event.kind, kind, "at {revision}");
        assert_eq!(event.kv.value.as_ref(), value, "value at {revision}");
        assert_eq!(
            event.prev_kv.as_ref().map(|kv| kv.value.as_ref()),
            prev,
            "previous value at {revision}"
        );
    }
    // All together: the values of replaced puts are found among the entries read.
    let values: Vec<Vec<u8>> = storage
        .log(r1, r4)
        .await
        .unwrap()
        .iter()
        .flat_map(|commit| commit.events.iter().map(|e| e.kv.value.to_vec()))
        .collect();
    let expected: Vec<&[u8]> = vec![b"one", b"two", b"live", b"three", b""];
    assert_eq!(values, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_the_previous_layout_is_read_and_marked_with_this_one() {
    let Some(zk) = server().await else { return };
    let backend = zk.backend().await;
    let r1 = put(&backend, "/old/a", b"first").await;
    put(&backend, "/old/a", b"second").await;
    drop(backend);
    let client = zk.raw_client().await;
    let layout = format!("{}/layout", zk.root());
    client.set_data(&layout, b"2", None).await.unwrap();
    // A log entry as the previous layout wrote it: the put's value in the entry itself.
    let entry = format!("{}/log/{r1:020}", zk.root());
    let (data, _) = client.get_data(&entry).await.unwrap();
    let text = String::from_utf8(data).unwrap();
    assert!(text.contains(r#""value":"record""#), "{text}");
    let old = text.replace(r#""value":"record""#, r#""value":{"text":"first"}"#);
    client.set_data(&entry, old.as_bytes(), None).await.unwrap();

    let backend = zk.backend().await;
    let (marked, _) = client.get_data(&layout).await.unwrap();
    assert_eq!(marked, b"3");
    let commits = backend.engine().storage().log(r1, r1 + 1).await.unwrap();
    let values: Vec<&[u8]> = commits
        .iter()
        .map(|commit| commit.events[0].kv.value.as_ref())
        .collect();
    assert_eq!(values, [b"first".as_slice(), b"second"]);
}
