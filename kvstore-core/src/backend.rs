//! The byte-level backend contract.
//!
//! A backend stores keys and bytes with etcd's revision model: one global revision counter
//! incremented by every write transaction, per-key create and mod revisions, leases, and
//! watches that replay history from a revision. It knows nothing of objects or codecs;
//! everything typed is built once on top of it by [`Store`](crate::Store).
//!
//! The contract is small: [`Backend::range`], [`Backend::txn`], [`Backend::watch`] with
//! [`Backend::request_progress`], three lease calls, [`Backend::compact`] and
//! [`Backend::current_revision`]; a backend declares what it can do in [`Capabilities`].
//! [`Namespaced`] puts every key of a backend under one prefix. A backend is correct when it passes the conformance suite
//! (feature `conformance`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

mod capabilities;
mod namespaced;

pub use self::capabilities::Capabilities;
pub use self::namespaced::Namespaced;
use crate::error::Result;
pub use crate::event_type::EventType;
use crate::key::directory_range;
pub use crate::lease::{whole_seconds, Lease, LeaseId, LeaseInfo};

/// A stored key and value with its revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value's bytes (empty in a delete event's `kv`).
    pub value: Bytes,
    /// Revision of the write that created the key.
    pub create_revision: u64,
    /// Revision of the key's last write (for a delete event: the delete revision).
    pub mod_revision: u64,
    /// The lease the key is attached to.
    pub lease: Option<LeaseId>,
}

/// A read of one key or of a key range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeRequest {
    /// The key, or the first key of the range.
    pub key: String,
    /// End of the range (exclusive); `None` reads the single key `key`.
    pub range_end: Option<String>,
    /// At most this many keys; 0 means no limit.
    pub limit: usize,
    /// Read at this revision; 0 reads the latest. A compacted revision gives `Gone`.
    pub revision: u64,
}

impl RangeRequest {
    /// Reads one key at the latest revision.
    pub fn key(key: impl Into<String>) -> Self {
        RangeRequest {
            key: key.into(),
            range_end: None,
            limit: 0,
            revision: 0,
        }
    }

    /// The revision this request reads at, for a store at `current` compacted up to
    /// `compacted`: `current` for 0 (the latest), [`Error::Gone`](crate::Error::Gone) before
    /// the compaction point, [`Error::InvalidArgument`](crate::Error::InvalidArgument) past the
    /// current revision. Every backend answers these cases the same way through it.
    pub fn read_revision(&self, current: u64, compacted: u64) -> Result<u64> {
        match self.revision {
            0 => Ok(current),
            r if r < compacted => Err(crate::Error::Gone {
                revision: r,
                compacted,
            }),
            r if r > current => Err(crate::Error::InvalidArgument(format!(
                "revision {r} is in the future (current {current})"
            ))),
            r => Ok(r),
        }
    }

    /// Reads every key under the directory `prefix` (see [`directory_range`]) at the latest
    /// revision.
    pub fn directory(prefix: &str) -> Self {
        let (key, range_end) = directory_range(prefix);
        RangeRequest {
            key,
            range_end: Some(range_end),
            limit: 0,
            revision: 0,
        }
    }
}

/// The answer to a [`RangeRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeResponse {
    /// The keys found, in key order.
    pub kvs: Vec<KeyValue>,
    /// Whether the limit cut off more keys.
    pub more: bool,
    /// The store's current revision when the read was served.
    pub revision: u64,
}

/// What a [`Compare`] looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareTarget {
    /// The key's mod revision (0 when the key does not exist).
    ModRevision(u64),
    /// The key's create revision (0 when the key does not exist).
    CreateRevision(u64),
}

/// How a [`Compare`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// Equal.
    Equal,
    /// Not equal.
    NotEqual,
    /// The key's value is greater than the operand.
    Greater,
    /// The key's value is less than the operand.
    Less,
}

/// A condition of a transaction, evaluated on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    /// The key.
    pub key: String,
    /// The comparison.
    pub op: CompareOp,
    /// The revision compared and its operand.
    pub target: CompareTarget,
}

impl Compare {
    /// The key does not exist.
    pub fn absent(key: impl Into<String>) -> Self {
        Compare {
            key: key.into(),
            op: CompareOp::Equal,
            target: CompareTarget::CreateRevision(0),
        }
    }
    /// The key exists.
    pub fn exists(key: impl Into<String>) -> Self {
        Compare {
            key: key.into(),
            op: CompareOp::Greater,
            target: CompareTarget::CreateRevision(0),
        }
    }
    /// The key's mod revision is `revision`.
    pub fn mod_revision(key: impl Into<String>, revision: u64) -> Self {
        Compare {
            key: key.into(),
            op: CompareOp::Equal,
            target: CompareTarget::ModRevision(revision),
        }
    }
    /// The key's create revision is `revision`: the key still exists as that write created
    /// it. The fence of locks and elections, whose fencing token is that create revision.
    pub fn create_revision(key: impl Into<String>, revision: u64) -> Self {
        Compare {
            key: key.into(),
            op: CompareOp::Equal,
            target: CompareTarget::CreateRevision(revision),
        }
    }

    /// Evaluates the compare against the key's current `(create, mod)` revisions (0, 0 when
    /// absent). Backends that evaluate compares themselves use this to agree on semantics.
    pub fn holds(&self, create_revision: u64, mod_revision: u64) -> bool {
        let (actual, operand) = match self.target {
            CompareTarget::ModRevision(n) => (mod_revision, n),
            CompareTarget::CreateRevision(n) => (create_revision, n),
        };
        match self.op {
            CompareOp::Equal => actual == operand,
            CompareOp::NotEqual => actual != operand,
            CompareOp::Greater => actual > operand,
            CompareOp::Less => actual < operand,
        }
    }
}

/// One operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    /// Writes `value` at `key`.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: Bytes,
        /// What happens to the key's lease.
        lease: PutLease,
    },
    /// Reads `key`.
    Get {
        /// The key.
        key: String,
    },
    /// Deletes `key`, returning its previous value.
    Delete {
        /// The key.
        key: String,
    },
    /// Deletes every key in `[key, range_end)`, returning the previous values.
    DeleteRange {
        /// First key.
        key: String,
        /// End of the range (exclusive).
        range_end: String,
    },
}

impl TxnOp {
    /// Writes `value` at `key`, doing `lease` with the key's lease.
    pub fn put(key: impl Into<String>, value: Bytes, lease: PutLease) -> Self {
        TxnOp::Put {
            key: key.into(),
            value,
            lease,
        }
    }
    /// Reads `key`.
    pub fn get(key: impl Into<String>) -> Self {
        TxnOp::Get { key: key.into() }
    }
    /// Deletes `key`.
    pub fn delete(key: impl Into<String>) -> Self {
        TxnOp::Delete { key: key.into() }
    }
    /// Deletes every key under the directory `prefix` (see [`directory_range`]).
    pub fn delete_directory(prefix: &str) -> Self {
        let (key, range_end) = directory_range(prefix);
        TxnOp::DeleteRange { key, range_end }
    }
}

/// What a put does with the key's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PutLease {
    /// The key is attached to no lease.
    #[default]
    Detach,
    /// The key keeps the lease it has; the key must exist (etcd's `ignore_lease`).
    Keep,
    /// The key is attached to this lease, which must be alive.
    Attach(LeaseId),
}

/// The result of one [`TxnOp`], in the order of the operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOpResult {
    /// A put was done.
    Put,
    /// The value read (`None` when the key does not exist).
    Get(Option<KeyValue>),
    /// The values deleted (empty when nothing was there).
    Delete(Vec<KeyValue>),
}

/// A transaction: if every compare holds, run `success`, else run `failure`; atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    /// Conditions, all of which must hold.
    pub compare: Vec<Compare>,
    /// Operations run when the conditions hold.
    pub success: Vec<TxnOp>,
    /// Operations run otherwise.
    pub failure: Vec<TxnOp>,
    /// The writes must get a revision no other transaction's writes share: their create
    /// revision orders them against other writers (lock and election entries, whose create
    /// revision is their place in the queue and their fencing token). A backend that combines
    /// concurrent transactions into one write (etcd's `batch_writes`) sends such a
    /// transaction alone.
    pub own_revision: bool,
}

impl Txn {
    /// A transaction whose `success` runs when every compare of `compare` holds.
    pub fn when(compare: impl IntoIterator<Item = Compare>) -> Self {
        Txn {
            compare: compare.into_iter().collect(),
            ..Txn::default()
        }
    }
    /// Adds `op` to the operations run when the compares hold.
    pub fn then(mut self, op: TxnOp) -> Self {
        self.success.push(op);
        self
    }
    /// Adds `op` to the operations run when a compare fails.
    pub fn otherwise(mut self, op: TxnOp) -> Self {
        self.failure.push(op);
        self
    }
    /// Whether any operation writes (a put or a delete): such a transaction lost in flight
    /// may have been applied ([`Error::Ambiguous`](crate::Error::Ambiguous)).
    pub fn writes(&self) -> bool {
        self.success
            .iter()
            .chain(&self.failure)
            .any(|op| !matches!(op, TxnOp::Get { .. }))
    }

    /// Asks for a revision of the transaction's own (see [`Txn::own_revision`]).
    pub fn with_own_revision(mut self) -> Self {
        self.own_revision = true;
        self
    }
}

/// The answer to a [`Txn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnResponse {
    /// Whether the compares held (and `success` ran).
    pub succeeded: bool,
    /// The store revision after the transaction: the revision of its writes, if it wrote.
    pub revision: u64,
    /// One result per operation that ran.
    pub results: Vec<TxnOpResult>,
}

impl TxnResponse {
    /// The value read by the first [`TxnOp::Get`] that ran (`None` if there was none, or the key
    /// did not exist): the current value after a failed compare-and-swap.
    pub fn read_value(self) -> Option<KeyValue> {
        self.results.into_iter().find_map(|r| match r {
            TxnOpResult::Get(kv) => kv,
            _ => None,
        })
    }
    /// How many keys the transaction's deletes removed.
    pub fn deleted_count(&self) -> usize {
        self.results
            .iter()
            .map(|r| match r {
                TxnOpResult::Delete(deleted) => deleted.len(),
                _ => 0,
            })
            .sum()
    }
}

/// A request to watch a key or a key range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchRequest {
    /// The key, or the first key of the range.
    pub key: String,
    /// End of the range (exclusive); `None` watches the single key.
    pub range_end: Option<String>,
    /// First revision to deliver (inclusive); 0 means changes after now only.
    pub start_revision: u64,
}

impl WatchRequest {
    /// Watches `key` from `start_revision` (inclusive; 0: changes after now only).
    pub fn key(key: impl Into<String>, start_revision: u64) -> Self {
        WatchRequest {
            key: key.into(),
            range_end: None,
            start_revision,
        }
    }
    /// Watches every key under the directory `prefix` (see [`directory_range`]) from
    /// `start_revision` (inclusive; 0: changes after now only).
    pub fn directory(prefix: &str, start_revision: u64) -> Self {
        let (key, range_end) = directory_range(prefix);
        WatchRequest {
            key,
            range_end: Some(range_end),
            start_revision,
        }
    }
}

/// One change of a key, as a watch delivers it (the typed [`WatchEvent`](crate::WatchEvent) is
/// built from it). Build it with [`Event::put`] and [`Event::delete`], which choose the
/// [`EventType`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Added (the put created the key), modified (it replaced a value) or deleted.
    pub kind: EventType,
    /// The key after the change; for a delete, its `mod_revision` is the delete revision.
    pub kv: KeyValue,
    /// The key before the change, when it existed (always present for a delete).
    pub prev_kv: Option<KeyValue>,
}

impl Event {
    /// The event of a put: [`EventType::Added`] when it created the key
    /// (`kv.create_revision == kv.mod_revision`), [`EventType::Modified`] otherwise.
    pub fn put(kv: KeyValue, prev_kv: Option<KeyValue>) -> Self {
        let kind = match kv.create_revision == kv.mod_revision {
            true => EventType::Added,
            false => EventType::Modified,
        };
        Event { kind, kv, prev_kv }
    }

    /// The event of a delete: `tombstone` is the key with the delete's revision as its
    /// `mod_revision`, `previous` its last value.
    pub fn delete(tombstone: KeyValue, previous: KeyValue) -> Self {
        Event {
            kind: EventType::Deleted,
            kv: tombstone,
            prev_kv: Some(previous),
        }
    }
}

/// What a watch delivers: a change, or word that every change up to a revision was delivered.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchItem {
    /// One change of a watched key.
    Event(Event),
    /// Every change of the watched range up to and including this revision has been
    /// delivered, even if none of the writes up to it touched the range. Sent after
    /// [`Backend::request_progress`], and from time to time when the backend chooses to (etcd's
    /// progress notifications).
    Progress(u64),
}

impl WatchItem {
    /// The change, if this is one.
    pub fn into_event(self) -> Option<Event> {
        match self {
            WatchItem::Event(event) => Some(event),
            WatchItem::Progress(_) => None,
        }
    }
}

/// A stream of [`WatchItem`]s, in revision order. After an error item the stream ends.
pub type EventStream = BoxStream<'static, Result<WatchItem>>;

/// The byte-level contract every backend implements.
///
/// Both usable generically and as `Arc<dyn Backend>`.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short name for logs, e.g. `memory` or `etcd`.
    fn name(&self) -> &'static str;

    /// What the backend can do and its limits ([`Capabilities::basic`] unless it says more).
    /// A backend wrapping another says what the other says.
    fn capabilities(&self) -> Capabilities {
        Capabilities::basic()
    }

    /// Reads a key or a range of keys, linearizably.
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse>;

    /// Reads one key as [`Backend::range`] does, but may answer from an older state (still
    /// exactly as it stood at the answer's revision) where that is cheaper: etcd's
    /// serializable read from the member asked, ZooKeeper's read without `sync`. For a caller
    /// that checks what it read with a compare-and-swap — the first read of
    /// [`Store::guaranteed_update`](crate::Store::guaranteed_update). The default is the
    /// linearizable read; a backend wrapping another passes it on.
    async fn get_possibly_stale(&self, key: &str) -> Result<RangeResponse> {
        self.range(RangeRequest::key(key)).await
    }

    /// Runs a transaction atomically.
    async fn txn(&self, txn: Txn) -> Result<TxnResponse>;

    /// Watches a key or range. A start revision older than the retained history gives
    /// [`Error::Gone`](crate::Error::Gone), either at once or as the stream's first item.
    async fn watch(&self, request: WatchRequest) -> Result<EventStream>;

    /// Asks every open watch of this backend to deliver a [`WatchItem::Progress`] soon: a
    /// revision at least as new as the store's revision when this call began, sent after every
    /// change of its range up to it. Many calls may be answered by one item.
    /// [`Error::Unsupported`](crate::Error::Unsupported) when the backend cannot promise that
    /// (e.g. an etcd release whose progress answers can overtake events).
    async fn request_progress(&self) -> Result<()>;

    /// Grants a lease of (at least) `ttl`, rounded up to whole seconds.
    async fn lease_grant(&self, ttl: Duration) -> Result<Lease>;

    /// Renews a lease, returning the remaining time to live.
    /// [`Error::LeaseNotFound`](crate::Error::LeaseNotFound) when it already expired.
    async fn lease_renew(&self, lease: LeaseId) -> Result<Duration>;

    /// Revokes a lease, deleting its keys at once.
    async fn lease_revoke(&self, lease: LeaseId) -> Result<()>;

    /// Reads a lease without renewing it: its time to live, the time left and its keys; `None`
    /// when it does not exist (expired or revoked). The default is
    /// [`Error::Unsupported`](crate::Error::Unsupported); every backend of this workspace reads
    /// it, and the conformance suite checks it.
    async fn lease_info(&self, lease: LeaseId) -> Result<Option<LeaseInfo>> {
        Err(crate::Error::Unsupported {
            what: format!("{lease} cannot be read on the {} backend", self.name()),
        })
    }

    /// Every live lease, by id (the default is [`Error::Unsupported`](crate::Error::Unsupported)).
    async fn leases(&self) -> Result<Vec<LeaseId>> {
        Err(crate::Error::Unsupported {
            what: format!("the {} backend cannot list its leases", self.name()),
        })
    }

    /// Discards history up to `revision`: reads and watches before it give `Gone`.
    async fn compact(&self, revision: u64) -> Result<()>;

    /// The store's current revision; also a health check.
    async fn current_revision(&self) -> Result<u64>;
}

#[async_trait]
impl<B: Backend + ?Sized> Backend for Arc<B> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        (**self).range(request).await
    }
    async fn get_possibly_stale(&self, key: &str) -> Result<RangeResponse> {
        (**self).get_possibly_stale(key).await
    }
    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        (**self).txn(txn).await
    }
    async fn watch(&self, request: WatchRequest) -> Result<EventStream> {
        (**self).watch(request).await
    }
    async fn request_progress(&self) -> Result<()> {
        (**self).request_progress().await
    }
    async fn lease_grant(&self, ttl: Duration) -> Result<Lease> {
        (**self).lease_grant(ttl).await
    }
    async fn lease_renew(&self, lease: LeaseId) -> Result<Duration> {
        (**self).lease_renew(lease).await
    }
    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        (**self).lease_revoke(lease).await
    }
    async fn lease_info(&self, lease: LeaseId) -> Result<Option<LeaseInfo>> {
        (**self).lease_info(lease).await
    }
    async fn leases(&self) -> Result<Vec<LeaseId>> {
        (**self).leases().await
    }
    async fn compact(&self, revision: u64) -> Result<()> {
        (**self).compact(revision).await
    }
    async fn current_revision(&self) -> Result<u64> {
        (**self).current_revision().await
    }
}
