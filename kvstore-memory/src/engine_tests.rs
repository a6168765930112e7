//! The engine's writer, on the in-process storage held at its append: a batch keeps its place
//! when the caller committing it gives up, and a caller that gives up before its turn writes
//! nothing.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use kvstore_core::backend::{Backend, PutLease, RangeRequest, Txn, TxnOp};
use kvstore_core::engine::{
    Append, Appended, Commit, Head, LogBackend, Snapshot, Storage, StoredLease, Touched,
};
use kvstore_core::{LeaseId, Result};
use tokio::sync::Semaphore;

use crate::storage::MemoryStorage;

/// The in-process storage whose appends wait for a permit.
struct Gated {
    storage: MemoryStorage,
    appends: Arc<Semaphore>,
}

impl Storage for Gated {
    fn name(&self) -> &'static str {
        "gated"
    }
    async fn head(&self) -> Result<Head> {
        self.storage.head().await
    }
    async fn get(&self, keys: &[String]) -> Result<Snapshot> {
        self.storage.get(keys).await
    }
    async fn range(&self, start: &str, end: &str, limit: usize) -> Result<Snapshot> {
        self.storage.range(start, end, limit).await
    }
    async fn append(&self, append: &Append) -> Result<Appended> {
        let permit = self.appends.acquire().await;
        permit.map(|p| p.forget()).ok();
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

fn gated() -> (LogBackend<Gated>, Arc<Semaphore>) {
    let appends = Arc::new(Semaphore::new(0));
    let storage = Gated {
        storage: MemoryStorage::new(100),
        appends: Arc::clone(&appends),
    };
    (LogBackend::new(storage), appends)
}

fn put(key: &str) -> Txn {
    Txn::default().then(TxnOp::put(key, Bytes::from_static(b"v"), PutLease::Detach))
}

async fn stored(backend: &LogBackend<Gated>, key: &str) -> bool {
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
