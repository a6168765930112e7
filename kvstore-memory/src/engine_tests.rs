//! The engine's writer on the in-process storage, held at its append or read from a lagging
//! replica: a batch keeps its place when the caller committing it gives up, a caller that gives
//! up before its turn writes nothing, and views read stale are never answered from.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use kvstore_core::backend::{Backend, Compare, PutLease, RangeRequest, Txn, TxnOp};
use kvstore_core::engine::{
    Append, Appended, Commit, Head, LogBackend, Snapshot, Storage, StoredLease, Touched,
};
use kvstore_core::{LeaseId, Result};
use parking_lot::Mutex;
use tokio::sync::Semaphore;

use crate::storage::MemoryStorage;

/// The in-process storage (shared by the engines built on it), whose appends may wait for a
/// permit and whose possibly stale reads may come from a replica that stopped applying.
struct TestStorage {
    storage: Arc<MemoryStorage>,
    /// Appends wait for a permit of this.
    appends: Option<Arc<Semaphore>>,
    /// For each set of keys read possibly stale, the first answer, given again ever after.
    stale: Option<Mutex<HashMap<Vec<String>, Snapshot>>>,
    /// Whether appends check the keys presumed absent (as ZooKeeper's does).
    presumes: bool,
}

impl TestStorage {
    fn on(storage: &Arc<MemoryStorage>) -> TestStorage {
        TestStorage {
            storage: Arc::clone(storage),
            appends: None,
            stale: None,
            presumes: false,
        }
    }
}

impl Storage for TestStorage {
    fn name(&self) -> &'static str {
        "test"
    }
    async fn head(&self) -> Result<Head> {
        self.storage.head().await
    }
    async fn get(&self, keys: &[String]) -> Result<Snapshot> {
        self.storage.get(keys).await
    }
    fn reads_may_be_stale(&self) -> bool {
        self.stale.is_some()
    }
    fn verifies_presumed_absence(&self) -> bool {
        self.presumes
    }
    async fn get_possibly_stale(&self, keys: &[String]) -> Result<Snapshot> {
        let Some(stale) = &self.stale else {
            return self.storage.get(keys).await;
        };
        if let Some(known) = stale.lock().get(keys) {
            return Ok(known.clone());
        }
        let read = self.storage.get(keys).await?;
        stale.lock().insert(keys.to_vec(), read.clone());
        Ok(read)
    }
    async fn range(&self, start: &str, end: &str, limit: usize) -> Result<Snapshot> {
        self.storage.range(start, end, limit).await
    }
    async fn append(&self, append: &Append) -> Result<Appended> {
        if let Some(appends) = &self.appends {
            let permit = appends.acquire().await;
            permit.map(|p| p.forget()).ok();
        }
        // (Not atomic with the append: the tests using it write from one engine at a time.)
        if !self
            .storage
            .get(&append.presumed_absent)
            .await?
            .kvs
            .is_empty()
        {
            return Ok(Appended::HeadMoved);
        }
        self.storage.append(append).await
    }
    async fn log(&self, from: u64, to: u64) -> Result<Vec<Arc<Commit>>> {
        self.storage.log(from, to).await
    }
    fn head_changes(&self) -> BoxStream<'static, u64> {
        self.storage.head_changes()
    }
    async fn compact(&self, revision: u64) -> Result<()> {
        self.storage.compact(revision).await
    }
    async fn create_lease(&self, ttl: Duration) -> Result<StoredLease> {
        self.storage.create_lease(ttl).await
    }
    async fn touch_lease(&self, id: LeaseId) -> Result<Option<Touched>> {
        self.storage.touch_lease(id).await
    }
    async fn leases(&self) -> Result<Vec<StoredLease>> {
        self.storage.leases().await
    }
    async fn lease_keys(&self, id: LeaseId) -> Result<Option<Snapshot>> {
        self.storage.lease_keys(id).await
    }
    async fn now(&self) -> Result<Duration> {
        self.storage.now().await
    }
}

fn gated() -> (LogBackend<TestStorage>, Arc<Semaphore>) {
    let appends = Arc::new(Semaphore::new(0));
    let storage = TestStorage {
        appends: Some(Arc::clone(&appends)),
        ..TestStorage::on(&Arc::new(MemoryStorage::new(100)))
    };
    (LogBackend::new(storage), appends)
}

fn put(key: &str) -> Txn {
    Txn::default().then(TxnOp::put(key, Bytes::from_static(b"v"), PutLease::Detach))
}

async fn stored(backend: &LogBackend<TestStorage>, key: &str) -> bool {
    let read = backend.range(RangeRequest::key(key)).await.unwrap();
    !read.kvs.is_empty()
}

async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_batch_is_answered_when_the_caller_committing_it_gives_up() {
    let (backend, appends) = gated();
    let spawn_put = |key: &'static str| {
        let backend = backend.clone();
        tokio::spawn(async move { backend.txn(put(key)).await })
    };
    // One caller commits alone and waits at its append; two queue behind it.
    let alone = spawn_put("/x");
    settle().await;
    let (b, c) = (spawn_put("/b"), spawn_put("/c"));
    settle().await;
    appends.add_permits(1);
    assert_eq!(alone.await.unwrap().unwrap().revision, 1);
    // /b's caller takes the turn with both queued jobs and waits at the append: it gives up.
    settle().await;
    b.abort();
    assert!(b.await.unwrap_err().is_cancelled());
    appends.add_permits(10);
    // The batch it held is finished for it: /c is answered, /b written at its revision.
    assert_eq!(c.await.unwrap().unwrap().revision, 3);
    assert!(stored(&backend, "/b").await && stored(&backend, "/c").await);
}

#[tokio::test]
async fn a_caller_that_gives_up_before_its_turn_writes_nothing() {
    let (backend, appends) = gated();
    let first = tokio::spawn({
        let backend = backend.clone();
        async move { backend.txn(put("/a")).await }
    });
    tokio::task::yield_now().await;
    let second = tokio::spawn({
        let backend = backend.clone();
        async move { backend.txn(put("/b")).await }
    });
    tokio::task::yield_now().await;
    second.abort();
    assert!(second.await.unwrap_err().is_cancelled());
    appends.add_permits(10);
    assert_eq!(first.await.unwrap().unwrap().revision, 1);
    // The next write takes a turn: it finds no job of the caller that gave up.
    assert_eq!(backend.txn(put("/c")).await.unwrap().revision, 2);
    assert!(stored(&backend, "/a").await && stored(&backend, "/c").await);
    assert!(
        !stored(&backend, "/b").await,
        "a withdrawn job is never committed"
    );
    assert_eq!(backend.current_revision().await.unwrap(), 2);
}

/// Two engines on one storage: one writes, the other reads its views from a replica that
/// stopped applying after its first answer.
fn writer_and_lagging_reader() -> (LogBackend<TestStorage>, LogBackend<TestStorage>) {
    let shared = Arc::new(MemoryStorage::new(100));
    let lagging = TestStorage {
        stale: Some(Mutex::new(HashMap::new())),
        ..TestStorage::on(&shared)
    };
    (
        LogBackend::new(TestStorage::on(&shared)),
        LogBackend::new(lagging),
    )
}

/// Makes the reader's engine read another key at the head, so that what it knew of `/k` (at
/// an older revision) is dropped: its next view of `/k` comes from the lagging replica.
async fn forget_k(reader: &LogBackend<TestStorage>) {
    reader.range(RangeRequest::key("/other")).await.unwrap();
}

fn put_value(key: &str, value: &'static str) -> Txn {
    Txn::default().then(TxnOp::put(
        key,
        Bytes::from_static(value.as_bytes()),
        PutLease::Detach,
    ))
}

#[tokio::test]
async fn a_transaction_that_only_reads_is_never_answered_from_a_stale_view() {
    let (writer, reader) = writer_and_lagging_reader();
    writer.txn(put_value("/k", "old")).await.unwrap();
    let read_only = || Txn::default().then(TxnOp::get("/k"));
    // The replica answers this once, and keeps answering it.
    reader.txn(read_only()).await.unwrap();
    let written = writer.txn(put_value("/k", "new")).await.unwrap().revision;
    forget_k(&reader).await;
    let read = reader.txn(read_only()).await.unwrap();
    let kv = read.read_value().expect("/k exists");
    assert_eq!(
        (kv.value.as_ref(), kv.mod_revision),
        (b"new".as_ref(), written)
    );
    // Nor is a compare that failed on it (nothing appended proves the view current).
    let compare = Txn::when([Compare::mod_revision("/k", written)]).otherwise(TxnOp::get("/k"));
    assert!(reader.txn(compare).await.unwrap().succeeded);
}

#[tokio::test]
async fn a_write_decided_on_a_stale_view_is_decided_again_on_a_fresh_one() {
    let (writer, reader) = writer_and_lagging_reader();
    writer.txn(put_value("/k", "old")).await.unwrap();
    let cas = |revision| {
        Txn::when([Compare::mod_revision("/k", revision)]).then(TxnOp::put(
            "/k",
            Bytes::from_static(b"mine"),
            PutLease::Keep,
        ))
    };
    reader
        .txn(Txn::default().then(TxnOp::get("/k")))
        .await
        .unwrap();
    let written = writer.txn(put_value("/k", "new")).await.unwrap().revision;
    forget_k(&reader).await;
    // The replica still has /k at its first revision: the compare on the write's revision
    // holds on the fresh view, and the one on the old revision fails there.
    assert!(reader.txn(cas(written)).await.unwrap().succeeded);
    assert!(!reader.txn(cas(written)).await.unwrap().succeeded);
}

mod guaranteed_update {
    use kvstore_codec::Json;
    use kvstore_core::conformance::{widget, Widget};
    use kvstore_core::Store;

    use super::*;

    fn stores() -> (Store<Json>, Store<Json>) {
        let (writer, reader) = writer_and_lagging_reader();
        (Store::new(writer, Json), Store::new(reader, Json))
    }

    #[tokio::test]
    async fn an_object_a_stale_read_did_not_find_is_updated() {
        let (writer, reader) = stores();
        // The replica answers that /w is absent, and keeps answering so.
        assert!(reader
            .backend()
            .get_possibly_stale("/w")
            .await
            .unwrap()
            .kvs
            .is_empty());
        writer.create("/w", &widget("w", "red")).await.unwrap();
        let updated = reader
            .guaranteed_update("/w", |w: &mut Widget| w.count += 1)
            .await
            .unwrap();
        assert_eq!(updated.count, 1);
    }

    #[tokio::test]
    async fn a_change_a_stale_read_already_shows_is_still_made() {
        let (writer, reader) = stores();
        writer.create("/w", &widget("w", "blue")).await.unwrap();
        reader.backend().get_possibly_stale("/w").await.unwrap();
        writer
            .guaranteed_update("/w", |w: &mut Widget| w.color = "red".into())
            .await
            .unwrap();
        // On the replica /w is still blue: "make it blue" changes nothing there, but does in
        // the store.
        let answered = reader
            .guaranteed_update("/w", |w: &mut Widget| w.color = "blue".into())
            .await
            .unwrap();
        let stored: Widget = writer.get("/w").await.unwrap();
        assert_eq!(stored.color, "blue");
        assert_eq!(
            answered.metadata.resource_version,
            stored.metadata.resource_version
        );
    }
}

#[tokio::test]
async fn a_key_presumed_absent_that_exists_is_read_and_the_write_decided_again() {
    let shared = Arc::new(MemoryStorage::new(100));
    let writer = LogBackend::new(TestStorage::on(&shared));
    let presuming = LogBackend::new(TestStorage {
        presumes: true,
        ..TestStorage::on(&shared)
    });
    writer.txn(put_value("/x", "theirs")).await.unwrap();
    // The presuming engine knows the head (from a read of another key), not /x.
    presuming.range(RangeRequest::key("/other")).await.unwrap();
    let create = Txn::when([Compare::absent("/x")])
        .then(TxnOp::put(
            "/x",
            Bytes::from_static(b"mine"),
            PutLease::Detach,
        ))
        .otherwise(TxnOp::get("/x"));
    let answer = presuming.txn(create.clone()).await.unwrap();
    assert!(!answer.succeeded, "/x exists");
    let read = presuming.range(RangeRequest::key("/x")).await.unwrap();
    assert_eq!(read.kvs[0].value.as_ref(), b"theirs");
    // A key that is absent indeed is created at once.
    let fresh = Txn::when([Compare::absent("/y")]).then(TxnOp::put(
        "/y",
        Bytes::from_static(b"mine"),
        PutLease::Detach,
    ));
    assert!(presuming.txn(fresh).await.unwrap().succeeded);
}
