//! # kvstore-memory
//!
//! The in-process backend of kvstore: etcd's revision model in memory, for tests, examples and
//! small tools. It passes the same conformance suite as the etcd backend.
//!
//! - one global revision counter; per-key create and mod revisions; multi-version keys back to
//!   the compaction point, so paginated lists read a consistent snapshot;
//! - a bounded history ([`MemoryBackend::with_history`] revisions, 10,000 by default) that
//!   watches replay from; older start points give `Gone`, like a compacted etcd;
//! - leases that expire on tokio time, so tests can use `tokio::time::pause`;
//! - any number of watchers, each reading the shared history at its own pace: writers never
//!   wait for them, and a watcher that falls behind the retained history gets `Gone`.
//!
//! Clones of a [`MemoryBackend`] share one store. No lock is held across an await; reads share
//! a read lock.
//!
//! ```
//! use kvstore_core::backend::{Backend, RangeRequest};
//! use kvstore_memory::MemoryBackend;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let backend = MemoryBackend::new();
//! assert_eq!(backend.current_revision().await.unwrap(), 0);
//! let read = backend.range(RangeRequest::key("/nothing")).await.unwrap();
//! assert!(read.kvs.is_empty());
//! # });
//! ```

mod dispatcher;
mod history;
mod keyspace;
mod leases;
mod reaper;
mod state;
mod watch;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kvstore_core::backend::{
    whole_seconds, Backend, Capabilities, EventStream, Lease, LeaseId, RangeRequest, RangeResponse,
    Txn, TxnResponse, WatchRequest,
};
use kvstore_core::Result;
use parking_lot::RwLock;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::state::State;

/// Revisions of history kept by default.
pub const DEFAULT_HISTORY: u64 = 10_000;

pub(crate) struct Shared {
    state: RwLock<State>,
    /// The revision of the last write, as published to watchers (by the dispatcher).
    revisions: tokio::sync::watch::Sender<u64>,
    /// Counts progress requests; every watch answers the latest with its revision.
    progress_requests: tokio::sync::watch::Sender<u64>,
    /// The revision of the last write, for the dispatcher to publish.
    latest: AtomicU64,
    /// Wakes the dispatcher after a write.
    written: Arc<Notify>,
    dispatcher_started: AtomicBool,
    /// Wakes the lease reaper.
    lease_changed: Arc<Notify>,
    reaper_started: AtomicBool,
    history: u64,
}

impl Shared {
    /// Runs a state change under the write lock; when it wrote, trims the history and
    /// publishes the new revision to the watchers (after releasing the lock).
    fn write<T>(&self, change: impl FnOnce(&mut State) -> Result<(T, bool)>) -> Result<T> {
        let mut state = self.state.write();
        let (answer, wrote) = change(&mut state)?;
        if wrote {
            state.trim_history(self.history);
        }
        let revision = state.revision;
        drop(state);
        if wrote {
            self.latest.fetch_max(revision, Ordering::AcqRel);
            self.written.notify_one();
        }
        Ok(answer)
    }

    fn expire(&self, now: Instant) {
        let _ = self.write(|state| Ok(((), state.expire(now))));
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Lets the reaper and the dispatcher notice the store is gone.
        self.lease_changed.notify_one();
        self.written.notify_one();
    }
}

/// The in-process backend. Clones share one store.
#[derive(Clone)]
pub struct MemoryBackend {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.state.read();
        f.debug_struct("MemoryBackend")
            .field("revision", &state.revision)
            .field("compacted", &state.compacted)
            .field("keys", &state.keys.len())
            .field("history", &state.history.len())
            .finish()
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    /// An empty store keeping [`DEFAULT_HISTORY`] revisions of history.
    pub fn new() -> Self {
        Self::with_history(DEFAULT_HISTORY)
    }

    /// An empty store keeping `revisions` revisions of history for watches and paginated
    /// lists (at least one).
    pub fn with_history(revisions: u64) -> Self {
        MemoryBackend {
            shared: Arc::new(Shared {
                state: RwLock::new(State::default()),
                revisions: tokio::sync::watch::Sender::new(0),
                progress_requests: tokio::sync::watch::Sender::new(0),
                latest: AtomicU64::new(0),
                written: Arc::new(Notify::new()),
                dispatcher_started: AtomicBool::new(false),
                lease_changed: Arc::new(Notify::new()),
                reaper_started: AtomicBool::new(false),
                history: revisions.max(1),
            }),
        }
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.shared.state.read().keys.len()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::basic().with_progress_requests()
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.shared.state.read().range(&request)
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        self.shared.write(|state| state.txn(txn, Instant::now()))
    }

    async fn watch(&self, request: WatchRequest) -> Result<EventStream> {
        if !self.shared.dispatcher_started.swap(true, Ordering::AcqRel) {
            dispatcher::spawn(&self.shared);
        }
        watch::open(&self.shared, request)
    }

    async fn request_progress(&self) -> Result<()> {
        self.shared.progress_requests.send_modify(|n| *n += 1);
        Ok(())
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<Lease> {
        let ttl = whole_seconds(ttl);
        let id = self.shared.state.write().leases.grant(ttl, Instant::now());
        if !self.shared.reaper_started.swap(true, Ordering::AcqRel) {
            reaper::spawn(&self.shared);
        }
        self.shared.lease_changed.notify_one();
        Ok(Lease { id, ttl })
    }

    async fn lease_renew(&self, lease: LeaseId) -> Result<Duration> {
        let now = Instant::now();
        let renewed = self.shared.state.write().leases.renew(lease, now);
        if renewed.is_err() {
            // The lease may be past its deadline with the reaper not yet run: expire it now so
            // its keys are gone by the time the caller hears it is lost.
            self.shared.expire(now);
        }
        renewed
    }

    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        self.shared.write(|state| Ok(((), state.revoke(lease)?)))
    }

    async fn compact(&self, revision: u64) -> Result<()> {
        self.shared.state.write().compact(revision)
    }

    async fn current_revision(&self) -> Result<u64> {
        Ok(self.shared.state.read().revision)
    }
}

/// The stores [`MemoryBackend::named`] hands out, by name, for the life of the process.
static NAMED: std::sync::Mutex<std::collections::BTreeMap<String, MemoryBackend>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

impl MemoryBackend {
    /// The in-process store named `name`, created on first use and shared by every later call
    /// with that name in the process (`memory://NAME`), like the Go libraries' in-memory
    /// clusters: components of one test can share a store without passing it around. It lives
    /// as long as the process; its background tasks run on the tokio runtime that first
    /// watches it or grants a lease.
    pub fn named(name: &str) -> MemoryBackend {
        NAMED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }
}
