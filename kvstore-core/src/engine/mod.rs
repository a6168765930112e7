//! The log engine: etcd's model — one revision counter, create and mod revisions,
//! compare-and-swap transactions, reads at a past revision, watches that replay from a
//! revision, leases — built once on any store that keeps keys, an append-only log of commits
//! and leases, and answers a conditional append ([`Storage`]). kvstore-memory and
//! kvstore-zookeeper are built on it.
//!
//! [`LogBackend`] implements [`Backend`] over a [`Storage`]; it owns the semantics, the storage
//! owns bytes and atomicity:
//!
//! - transactions: compares, operations and their results, decided on a view of the keys they
//!   name at one revision — read, or known from the engine's last reads and appends (then the
//!   append's condition on the head proves it current, and a stale view is read again);
//! - one writer, the only committer of an engine: concurrent transactions are decided one
//!   after the other and appended together, each with its own revision and result; a lost race
//!   for the head decides them again, losers of a compare queue again before the next turn (no
//!   starvation), and with nobody else writing a caller commits its own transaction, no task
//!   hop;
//! - watches replaying from any retained revision, with progress answers and `Gone`;
//! - range reads at a past revision (the commits after it undone), pages included;
//! - compaction rules; lease expiry on the store's clock, and revocation, through the writer.
//!
//! When to implement [`Storage`] and when [`Backend`], what each storage call must do, and the
//! template to copy: "Writing a backend" in kvstore-core's README.

mod decide;
mod heads;
mod known;
mod leases;
mod read;
mod retention;
pub mod rows;
mod storage;
mod view;
mod watch;
mod writer;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tracing::Instrument;

pub use self::storage::{
    Append, Appended, Commit, Head, Revocation, Snapshot, Storage, StoredLease, Touched,
};
use crate::backend::{
    Backend, Capabilities, EventStream, Lease, RangeRequest, RangeResponse, Txn, TxnResponse,
    WatchRequest,
};
use crate::error::{Error, Result};
use crate::lease::{LeaseId, LeaseInfo};

/// How an engine runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// On a store other processes write too: how often to look for leases whose term is over
    /// (others may have granted them and died). `None` (the default) for a store only this
    /// engine writes: it knows every lease, and expires each when its term ends.
    pub lease_check_interval: Option<Duration>,
    /// Revisions of history to keep: after an append leaves more than this (and a tenth of it
    /// again) behind the compaction point, the engine compacts to `head - retain`, in a task of
    /// its own (writes go on meanwhile). `None` (the
    /// default): the storage keeps what it keeps, and compaction is the caller's
    /// [`Backend::compact`].
    pub retain: Option<u64>,
}

impl Options {
    /// Looks for expired leases every `interval` (a store shared with other processes).
    pub fn lease_check_interval(mut self, interval: Duration) -> Self {
        self.lease_check_interval = Some(interval);
        self
    }

    /// Keeps `revisions` revisions of history (at least one), compacting older ones as writes
    /// go on.
    pub fn retain(mut self, revisions: u64) -> Self {
        self.retain = Some(revisions.max(1));
        self
    }
}

pub(crate) struct Inner<S> {
    storage: S,
    options: Options,
    writer: writer::Writer,
    heads: heads::Heads,
    /// The head revision the latest progress request must be answered at.
    progress: tokio::sync::watch::Sender<u64>,
    lease_granted: Arc<Notify>,
    reaper_started: AtomicBool,
    /// Whether a compaction of [`Options::retain`] is running.
    compacting: AtomicBool,
    /// Keys as reads and appends left them, for the writer to decide on without a read.
    known: known::Known,
}

impl<S> Drop for Inner<S> {
    fn drop(&mut self) {
        // Lets the engine's tasks notice it is gone.
        self.heads.close();
        self.lease_granted.notify_one();
    }
}

/// A [`Backend`] built by the engine on a [`Storage`]. Clones share one engine.
pub struct LogBackend<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for LogBackend<S> {
    fn clone(&self) -> Self {
        LogBackend {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for LogBackend<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBackend")
            .field("storage", &self.inner.storage)
            .finish_non_exhaustive()
    }
}

impl<S: Storage> LogBackend<S> {
    /// The engine over `storage`, which only it writes.
    pub fn new(storage: S) -> Self {
        Self::with_options(storage, Options::default())
    }

    /// The engine over `storage`, run as `options` say. With a lease check interval, its
    /// reaper starts with the first call made on a tokio runtime.
    pub fn with_options(storage: S, options: Options) -> Self {
        LogBackend {
            inner: Arc::new(Inner {
                storage,
                options,
                writer: writer::Writer::default(),
                heads: heads::Heads::default(),
                progress: tokio::sync::watch::Sender::new(0),
                lease_granted: Arc::new(Notify::new()),
                reaper_started: AtomicBool::new(false),
                compacting: AtomicBool::new(false),
                known: known::Known::default(),
            }),
        }
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.inner.storage
    }

    /// Starts the engine's lease reaper now, when it has a lease check interval: a store
    /// shared with other processes needs this engine to expire their abandoned leases even if
    /// it grants none itself. (Otherwise it starts with the first call; call this on a tokio
    /// runtime.)
    pub fn start(&self) {
        if self.inner.options.lease_check_interval.is_some() {
            leases::start_reaper(&self.inner);
        }
    }

    fn span(&self, operation: &'static str) -> tracing::Span {
        tracing::debug_span!(
            "kvstore.engine",
            operation,
            backend = self.inner.storage.name()
        )
    }
}

/// A type built on the engine: a [`LogBackend`] itself, or a backend type of its own around
/// one (`MemoryBackend` is `LogBackend<MemoryStorage>` under its own name and constructors).
/// Every such type is a [`Backend`].
pub trait EngineBacked: Send + Sync + 'static {
    /// The storage the engine runs on.
    type Storage: Storage;
    /// The engine.
    fn engine(&self) -> &LogBackend<Self::Storage>;
}

impl<S: Storage> EngineBacked for LogBackend<S> {
    type Storage = S;
    fn engine(&self) -> &LogBackend<S> {
        self
    }
}

/// Every backend built on the engine is a [`Backend`] through this one implementation.
#[async_trait]
impl<T: EngineBacked> Backend for T {
    fn name(&self) -> &'static str {
        self.engine().inner.storage.name()
    }

    fn capabilities(&self) -> Capabilities {
        let storage = &self.engine().inner.storage;
        storage.capabilities().with_progress_requests()
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        let engine = self.engine();
        engine.start();
        read::range(&engine.inner.storage, &engine.inner.known, &request)
            .instrument(engine.span("range"))
            .await
    }

    async fn get_possibly_stale(&self, key: &str) -> Result<RangeResponse> {
        let engine = self.engine();
        engine.start();
        read::possibly_stale(&engine.inner.storage, &engine.inner.known, key)
            .instrument(engine.span("get_possibly_stale"))
            .await
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        let engine = self.engine();
        engine.start();
        let done = writer::submit(&engine.inner, writer::Job::Txn(txn))
            .instrument(engine.span("txn"))
            .await?;
        match done {
            writer::Done::Txn(response) => Ok(response),
            writer::Done::Revoked(_) => Err(Error::Backend {
                message: "the writer answered a transaction with a revocation".to_owned(),
                source: None,
            }),
        }
    }

    async fn watch(&self, request: WatchRequest) -> Result<EventStream> {
        let engine = self.engine();
        engine.start();
        watch::open(&engine.inner, request)
            .instrument(engine.span("watch"))
            .await
    }

    async fn request_progress(&self) -> Result<()> {
        let inner = &self.engine().inner;
        let head = inner.storage.head().await?;
        inner
            .progress
            .send_modify(|wanted| *wanted = (*wanted).max(head.revision));
        inner.heads.learn(head.revision);
        Ok(())
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<Lease> {
        let engine = self.engine();
        let span = engine.span("lease_grant");
        leases::grant(&engine.inner, ttl).instrument(span).await
    }

    async fn lease_renew(&self, lease: LeaseId) -> Result<Duration> {
        let engine = self.engine();
        let span = engine.span("lease_renew");
        leases::renew(&engine.inner, lease).instrument(span).await
    }

    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        let engine = self.engine();
        let span = engine.span("lease_revoke");
        leases::revoke(&engine.inner, lease).instrument(span).await
    }

    async fn lease_info(&self, lease: LeaseId) -> Result<Option<LeaseInfo>> {
        let engine = self.engine();
        let span = engine.span("lease_info");
        leases::info(&engine.inner, lease).instrument(span).await
    }

    async fn leases(&self) -> Result<Vec<LeaseId>> {
        let engine = self.engine();
        let span = engine.span("leases");
        leases::live(&engine.inner).instrument(span).await
    }

    async fn compact(&self, revision: u64) -> Result<()> {
        let engine = self.engine();
        let head = engine.inner.storage.head().await?;
        if revision <= head.compacted {
            return Err(Error::Gone {
                revision,
                compacted: head.compacted,
            });
        }
        if revision > head.revision {
            return Err(Error::InvalidArgument(format!(
                "cannot compact at future revision {revision} (current {})",
                head.revision
            )));
        }
        let span = engine.span("compact");
        engine
            .inner
            .storage
            .compact(revision)
            .instrument(span)
            .await?;
        engine.inner.known.learn_compacted(revision);
        Ok(())
    }

    async fn current_revision(&self) -> Result<u64> {
        Ok(self.engine().inner.storage.head().await?.revision)
    }
}
