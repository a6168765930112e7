//! The queue locks and elections stand in: one [`LeasedKey`] per contender under a prefix,
//! ordered by create revision. The oldest live entry is at the head (holds the lock, leads the
//! election).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;

use super::leased_key::{LeasedKey, Leases};
use super::session::Session;
use crate::backend::{
    Backend, Compare, EventStream, EventType, KeyValue, Lease, PutLease, RangeRequest, Txn, TxnOp,
    WatchItem, WatchRequest,
};
use crate::error::{Error, Result};
use crate::key::validate_key;

/// Writes a new entry `prefix/<lease>` holding `value` on a lease from `leases`.
pub(crate) async fn enqueue(leases: &Leases, prefix: &str, value: Bytes) -> Result<LeasedKey> {
    validate_key(prefix)?;
    // The key is named after the lease, so it is known once the lease is granted. An error
    // below drops the entry, which deletes it (revoking a lease of its own).
    let mut entry = leases
        .key(|lease| format!("{prefix}/{:016x}", lease.0))
        .await?;
    // The entry's create revision is its place in the queue and its fencing token: it must
    // be its own.
    let txn = Txn::when([Compare::absent(&entry.key)])
        .then(TxnOp::put(
            &entry.key,
            value,
            PutLease::Attach(entry.lease_id()),
        ))
        .with_own_revision();
    let response = leases.backend().txn(txn).await?;
    if !response.succeeded {
        return Err(Error::AlreadyExists {
            key: entry.key.clone(),
        });
    }
    entry.token = response.revision;
    Ok(entry)
}

/// Takes over an existing entry (left by an earlier run of the same contender) if its lease is
/// still alive: with fresh leases, renews it and keeps it alive from now on; with a shared
/// session, only an entry on that session's lease is its own.
pub(crate) async fn adopt(leases: &Leases, kv: &KeyValue) -> Result<Option<LeasedKey>> {
    let Some(lease) = kv.lease else {
        return Ok(None);
    };
    let key = kv.key.clone();
    if let Leases::Shared(session) = leases {
        return Ok((session.id() == lease)
            .then(|| LeasedKey::on_shared(session.clone(), |_| key, kv.create_revision)));
    }
    let backend = leases.backend();
    match backend.lease_renew(lease).await {
        Ok(ttl) => {
            let session = Session::start(
                Arc::clone(backend),
                leases.on_close().clone(),
                Lease { id: lease, ttl },
            );
            Ok(Some(LeasedKey::on(session, |_| key, kv.create_revision)))
        }
        Err(err) if err.is_lease_not_found() => Ok(None),
        Err(err) => Err(err),
    }
}

/// The entries of the queue at `prefix`, oldest first, and the revision they were read at.
pub(crate) async fn members(
    backend: &Arc<dyn Backend>,
    prefix: &str,
) -> Result<(Vec<KeyValue>, u64)> {
    let response = backend.range(RangeRequest::directory(prefix)).await?;
    let mut kvs = response.kvs;
    kvs.sort_by_key(|kv| kv.create_revision);
    Ok((kvs, response.revision))
}

/// A queue as last seen: entries by create revision, each with its key and value (an election
/// contender's id).
pub(crate) type Queue = BTreeMap<u64, (String, String)>;

/// What changed in a followed queue.
pub(crate) enum Change {
    /// An entry was written (or nothing changed: progress).
    Written,
    /// The entry with this key went away.
    Deleted(String),
}

/// A queue kept up to date by a watch of its prefix: read once, then followed change by change.
pub(crate) struct Follower {
    queue: Queue,
    changes: EventStream,
}

impl Follower {
    /// Reads the queue at `prefix` and watches it from there.
    pub(crate) async fn start(backend: &Arc<dyn Backend>, prefix: &str) -> Result<Follower> {
        let (members, revision) = members(backend, prefix).await?;
        let queue = members
            .into_iter()
            .map(|kv| {
                let id = String::from_utf8_lossy(&kv.value).into_owned();
                (kv.create_revision, (kv.key, id))
            })
            .collect();
        let changes = backend
            .watch(WatchRequest::directory(prefix, revision + 1))
            .await?;
        Ok(Follower { queue, changes })
    }

    /// The queue as last seen.
    pub(crate) fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Whether an entry with `key` stands in the queue.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.queue.values().any(|(k, _)| k == key)
    }

    /// The key and value of the head of the queue.
    pub(crate) fn head(&self) -> Option<(u64, &str, &str)> {
        let (&token, (key, id)) = self.queue.first_key_value()?;
        Some((token, key, id))
    }

    /// Applies the next change; `None` when the watch ended, an error when it broke.
    pub(crate) async fn next(&mut self) -> Option<Result<Change>> {
        let item = match self.changes.next().await? {
            Ok(item) => item,
            Err(err) => return Some(Err(err)),
        };
        let WatchItem::Event(event) = item else {
            return Some(Ok(Change::Written));
        };
        let kv = event.kv;
        Some(Ok(match event.kind {
            EventType::Added | EventType::Modified => {
                let id = String::from_utf8_lossy(&kv.value).into_owned();
                self.queue.insert(kv.create_revision, (kv.key, id));
                Change::Written
            }
            EventType::Deleted => {
                self.queue.retain(|_, (key, _)| *key != kv.key);
                Change::Deleted(kv.key)
            }
        }))
    }
}
