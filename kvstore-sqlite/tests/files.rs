//! What the store does with the file it is given: a file that is not a database, a directory
//! that does not exist or may not be written, a database of another schema version — typed
//! errors, nothing changed — and a store closed and opened again, which finds everything.

use std::time::Duration;

use futures::StreamExt;
use kvstore_codec::Json;
use kvstore_core::backend::{Backend, WatchItem, WatchRequest};
use kvstore_core::conformance::{widget, Widget};
use kvstore_core::Store;
use kvstore_sqlite::{SqliteBackend, SqliteConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    let text = "a plain text file, not a database\n".repeat(200);
    std::fs::write(&path, &text).unwrap();
    let err = SqliteBackend::open(SqliteConfig::new(&path))
        .await
        .unwrap_err();
    assert!(err.is_invalid_config(), "{err}");
    assert!(err.to_string().contains("not a SQLite database"), "{err}");
    assert!(err.to_string().contains("notes.txt"), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_unwritable_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/store.db");
    let err = SqliteBackend::open(SqliteConfig::new(&missing))
        .await
        .unwrap_err();
    assert!(err.is_invalid_config(), "{err}");
    assert!(
        err.to_string().contains("directory does not exist"),
        "{err}"
    );

    // /proc takes no new files, whoever asks (tests may run as root, whom file modes don't stop).
    let refused = SqliteBackend::open(SqliteConfig::new("/proc/kvstore-test.db"))
        .await
        .unwrap_err();
    assert!(refused.is_permission_denied(), "{refused}");
    assert!(!refused.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_another_schema_version_is_refused_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let store = Store::new(
            SqliteBackend::open(SqliteConfig::new(&path)).await.unwrap(),
            Json,
        );
        store
            .create("/notes/a", &widget("a", "kept"))
            .await
            .unwrap();
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE kvstore_meta SET schema_version = 99", [])
        .unwrap();
    let err = SqliteBackend::open(SqliteConfig::new(&path))
        .await
        .unwrap_err();
    assert!(err.is_invalid_config(), "{err}");
    assert!(err.to_string().contains("schema version 99"), "{err}");
    let keys: u64 = conn
        .query_row("SELECT count(*) FROM kvstore_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(keys, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_opened_again_finds_objects_revisions_history_and_leases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let (written, revision, lease) = {
        let backend = SqliteBackend::open(SqliteConfig::new(&path)).await.unwrap();
        let store = Store::new(backend.clone(), Json);
        store
            .create("/notes/a", &widget("a", "first"))
            .await
            .unwrap();
        let mut b = store
            .create("/notes/b", &widget("b", "second"))
            .await
            .unwrap();
        b.color = "second, changed".to_owned();
        let b = store.update("/notes/b", &b).await.unwrap();
        let lease = backend.lease_grant(Duration::from_secs(60)).await.unwrap();
        (b, backend.current_revision().await.unwrap(), lease.id)
    };
    let backend = SqliteBackend::open(SqliteConfig::new(&path)).await.unwrap();
    let store = Store::new(backend.clone(), Json);
    assert_eq!(backend.current_revision().await.unwrap(), revision);
    assert_eq!(store.get::<Widget>("/notes/b").await.unwrap(), written);
    // The history survives too: a watch from revision 1 replays every write.
    let history = backend
        .watch(WatchRequest::directory("/notes", 1))
        .await
        .unwrap();
    let replayed: Vec<u64> = history
        .take(3)
        .map(|item| match item.unwrap() {
            WatchItem::Event(event) => event.kv.mod_revision,
            other => panic!("expected an event, got {other:?}"),
        })
        .collect()
        .await;
    assert_eq!(replayed, [1, 2, 3]);
    // And the lease, still within its time to live.
    assert!(backend.lease_renew(lease).await.is_ok());
}
