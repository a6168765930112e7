//! The storage contract: what a store without revisions of its own provides so that the engine
//! can build etcd's model on it.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use std::future::Future;

use crate::backend::{Capabilities, Event, KeyValue};
use crate::error::Result;
use crate::lease::LeaseId;

/// The store's revision and its compaction point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    /// The revision of the last commit (0 for an empty store).
    pub revision: u64,
    /// Log entries before this revision may be gone; reads and watches before it are `Gone`.
    pub compacted: u64,
}

impl Head {
    /// The snapshot of `kvs` read at this head (`more`: a limit cut off more keys).
    pub fn snapshot(self, kvs: Vec<KeyValue>, more: bool) -> Snapshot {
        Snapshot {
            revision: self.revision,
            compacted: self.compacted,
            kvs,
            more,
        }
    }
}

/// Live keys exactly as they stood at one revision.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// The head revision the keys were read at.
    pub revision: u64,
    /// The compaction point when they were read.
    pub compacted: u64,
    /// The keys found, in key order.
    pub kvs: Vec<KeyValue>,
    /// Whether a limit cut off more keys.
    pub more: bool,
}

/// The changes of one write transaction: every event carries the commit's revision (a put's
/// `kv.mod_revision`, a delete's tombstone `mod_revision`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The commit's revision.
    pub revision: u64,
    /// Its changes, in the order the transaction made them.
    pub events: Vec<Event>,
}

/// A lease as the storage keeps it. Times are on the store's clock ([`Storage::now`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredLease {
    /// The lease's id.
    pub id: LeaseId,
    /// Its time to live.
    pub ttl: Duration,
    /// When its current term began (its grant or last renewal), on the store's clock.
    pub renewed: Duration,
}

impl StoredLease {
    /// Whether the lease's term is over at `now` (store clock).
    pub fn expired_at(&self, now: Duration) -> bool {
        now.saturating_sub(self.renewed) >= self.ttl
    }
}

/// What a renewal found: the term that was running and the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touched {
    /// The lease before the renewal.
    pub before: StoredLease,
    /// When the new term began (store clock).
    pub renewed: Duration,
}

/// Ends a lease in the same atomic step as a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    /// The lease removed.
    pub lease: LeaseId,
    /// Only if its term still began here (it was judged expired and not renewed since).
    pub renewed: Option<Duration>,
}

/// One atomic step: append `commits` (revisions `head + 1`, `head + 2`, …), apply their
/// events to the keys, and end `revocation`'s lease — only if the store's head is still
/// `head`, every lease of `leases` exists, and the revocation's lease exists (at its term).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Append {
    /// The head the commits extend.
    pub head: u64,
    /// The commits, in revision order (possibly none, for a revocation of a lease with no key).
    pub commits: Vec<Arc<Commit>>,
    /// Leases the commits attach keys to: each must exist.
    pub leases: Vec<LeaseId>,
    /// A lease to remove (its keys' delete events are in `commits`).
    pub revocation: Option<Revocation>,
    /// Keys the commits were decided on as absent without reading them; the commits create
    /// every one. If any exists, nothing is written and the answer is
    /// [`Appended::HeadMoved`]. Only a storage that
    /// [verifies presumed absence](Storage::verifies_presumed_absence) is sent any.
    pub presumed_absent: Vec<String>,
}

/// The answer to an [`Append`]: written, or why nothing was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Everything was written.
    Done,
    /// Another writer moved the head first: nothing was written.
    HeadMoved,
    /// This lease (of `leases` or the revocation's) does not exist, or its term is over:
    /// nothing was written.
    LeaseMissing(LeaseId),
    /// The revocation's lease was renewed since it was judged expired: nothing was written.
    LeaseRenewed,
    /// The step is more than the store takes at once: nothing was written; the engine splits
    /// it. (A single commit too large for the store is an error of `append` instead.)
    TooLarge,
}

/// What a store without revisions of its own implements to get etcd's model from the engine
/// ([`LogBackend`](super::LogBackend)): keys with their revisions, an append-only log of
/// commits, leases and a clock. Every method but [`Storage::get_possibly_stale`] answers
/// linearizably: at least as new as any append acknowledged before the call.
///
/// The engine is the store's only committer of revisions through [`Storage::append`], which
/// must be atomic and conditional; other clients of a shared store (other processes) are other
/// engines, whose appends move the head under this one.
///
/// Implement the methods as `async fn`s; their futures must be `Send`. (The trait is used
/// generically, by [`LogBackend<S>`](super::LogBackend), so its futures are not boxed.)
pub trait Storage: Send + Sync + 'static {
    /// A short name for logs and the backend's [`name`](crate::Backend::name).
    fn name(&self) -> &'static str;

    /// Limits of the store ([`Capabilities::basic`] unless it says more); the engine adds what
    /// it provides itself (progress requests).
    fn capabilities(&self) -> Capabilities {
        Capabilities::basic()
    }

    /// The head revision and the compaction point.
    fn head(&self) -> impl Future<Output = Result<Head>> + Send;

    /// The live keys among `keys`, all at one revision.
    fn get(&self, keys: &[String]) -> impl Future<Output = Result<Snapshot>> + Send;

    /// Whether [`Storage::append`] checks [`Append::presumed_absent`] (`false` by default:
    /// the writer then reads every key it does not know). A storage whose append creates a
    /// new key with an operation that fails on an existing one checks it for free, and saves
    /// a create the read before it.
    fn verifies_presumed_absence(&self) -> bool {
        false
    }

    /// Whether [`Storage::get_possibly_stale`] may answer from an older state (`false`, the
    /// default, when it is [`Storage::get`]).
    fn reads_may_be_stale(&self) -> bool {
        false
    }

    /// [`Storage::get`], but the one exception to linearizable answers when
    /// [`Storage::reads_may_be_stale`]: it may answer from an older state (still exactly as it
    /// stood at the snapshot's revision), where that is cheaper — a replica not yet caught up.
    /// The writer reads its views so: an append on a stale view fails (the head moved), and
    /// then, or before answering without an append, it reads with [`Storage::get`]. The
    /// default is [`Storage::get`].
    fn get_possibly_stale(&self, keys: &[String]) -> impl Future<Output = Result<Snapshot>> + Send {
        self.get(keys)
    }

    /// The live keys in `[start, end)`, in key order, at most `limit` of them (0: all).
    fn range(
        &self,
        start: &str,
        end: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Snapshot>> + Send;

    /// Writes an [`Append`] atomically if its conditions hold.
    fn append(&self, append: &Append) -> impl Future<Output = Result<Appended>> + Send;

    /// The commits of revisions `from..=to` (`to` at most the head), in order;
    /// [`Error::Gone`](crate::Error::Gone) when compaction removed one of them.
    fn log(&self, from: u64, to: u64) -> impl Future<Output = Result<Vec<Arc<Commit>>>> + Send;

    /// Heads moved by other writers of the store, as they learn of them (a store only this
    /// engine writes returns a stream that never yields). Wake-ups may be coalesced or
    /// repeated; the engine reads the log for what changed.
    fn head_changes(&self) -> BoxStream<'static, u64>;

    /// Moves the compaction point forward to `revision` (never back) and drops what no read
    /// at or after it needs. The engine has checked `revision` against the head.
    fn compact(&self, revision: u64) -> impl Future<Output = Result<()>> + Send;

    /// Creates a lease of `ttl` whose term begins now.
    fn create_lease(&self, ttl: Duration) -> impl Future<Output = Result<StoredLease>> + Send;

    /// Begins a new term of a lease, now; `None` when it does not exist.
    fn touch_lease(&self, id: LeaseId) -> impl Future<Output = Result<Option<Touched>>> + Send;

    /// Every lease.
    fn leases(&self) -> impl Future<Output = Result<Vec<StoredLease>>> + Send;

    /// The live keys attached to a lease, at one revision; `None` when the lease does not exist.
    fn lease_keys(&self, id: LeaseId) -> impl Future<Output = Result<Option<Snapshot>>> + Send;

    /// The store's clock (the one lease terms are measured on).
    fn now(&self) -> impl Future<Output = Result<Duration>> + Send;
}
