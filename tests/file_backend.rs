//! The storage of the `file_backend` example passes the whole conformance suite on the log
//! engine — the proof a backend author copies with the template — and its store survives
//! being closed and opened again.

#[path = "../examples/file_backend/storage.rs"]
mod storage;

use kvstore::conformance::Fixture;
use kvstore::engine::LogBackend;
use kvstore::{Json, Store};

use crate::storage::FileStorage;

fn open(dir: &std::path::Path) -> Store<Json> {
    let storage = FileStorage::open(dir).expect("open the store's directory");
    Store::new(LogBackend::new(storage), Json)
}

kvstore::conformance_suite!(
    #[tokio::test(start_paused = true)]
    |_isolation| async {
        let dir = tempfile::tempdir().expect("a temporary directory");
        Fixture::with_guard(open(dir.path()), dir)
    }
);

#[tokio::test]
async fn a_store_opened_again_has_its_keys_history_and_revision() {
    use kvstore::conformance::Widget;
    use kvstore::{ObjectMeta, WatchEvent, WatchFrom};

    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let widget = Widget {
        metadata: ObjectMeta::named("a"),
        color: "red".into(),
        count: 0,
    };
    let created = store.create("/w/a", &widget).await.unwrap();
    let _: Widget = store.delete("/w/a", &Default::default()).await.unwrap();
    store.create("/w/b", &widget).await.unwrap();
    let revision = store.current_resource_version().await.unwrap();
    drop(store);

    let store = open(dir.path());
    assert_eq!(store.current_resource_version().await.unwrap(), revision);
    assert!(store
        .get::<Widget>("/w/a")
        .await
        .unwrap_err()
        .is_not_found());
    let b: Widget = store.get("/w/b").await.unwrap();
    assert_eq!(b.color, "red");
    // The history came along: a watch from the first write replays the two changes after it.
    let from = WatchFrom::Version(created.metadata.version().unwrap());
    let mut events = store.watch_prefix::<Widget>("/w", from).await.unwrap();
    match futures::StreamExt::next(&mut events)
        .await
        .unwrap()
        .unwrap()
    {
        WatchEvent::Deleted(w) => assert_eq!(w.metadata.name, "a"),
        other => panic!("expected the delete of a, got {other:?}"),
    }
    match futures::StreamExt::next(&mut events)
        .await
        .unwrap()
        .unwrap()
    {
        WatchEvent::Added(w) => assert_eq!(w.metadata.name, "a"),
        other => panic!("expected the create of b, got {other:?}"),
    }
}

#[tokio::test]
async fn bytes_that_are_not_a_store_are_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("store.json"), b"{ not json").unwrap();
    let err = FileStorage::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("store.json"), "{err}");
    assert!(!err.is_retryable());
}
