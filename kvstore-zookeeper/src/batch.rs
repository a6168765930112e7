//! The writer: every write transaction of a backend goes through one task, which takes the
//! transactions waiting in its queue together, reads the head revision and every key they
//! name (requests sent at once), decides them one after the other — each on the state the ones
//! before it left, each writing one revision of its own — and commits them all in one
//! ZooKeeper `multi`: a log entry per writing transaction, the head, the new values, each
//! changed key once, lease attachments. If another client took the first revision meanwhile,
//! nothing was written and the batch is decided again on fresh reads. Compare-and-swap writers
//! contending for one key are decided in arrival order; the losers hear, with the value that
//! won, when the batch is committed, and the writer lets them queue again before it takes the
//! next batch, so contenders take turns.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};

use kvstore_core::backend::{Txn, TxnOp};
use kvstore_core::{Error, Result};
use tokio::sync::{mpsc, oneshot};
use zookeeper_client as zk;

use crate::connection::map_error;
use crate::fetch;
use crate::inner::Inner;
use crate::layout::{unescape, PERSISTENT};
use crate::plan::{self, KeyStates, Plan, Planned};
use crate::read::in_range;
use crate::records::{decode_counter, encode, encode_counter, KeyRecord, LogEntry};
use crate::values::NewValue;

/// How many times a batch is decided again after losing its revision to another client.
const ATTEMPTS: usize = 1000;

/// How many times the writer yields to other tasks between batches.
const LINGER_YIELDS: usize = 4;

/// The most a `multi` may carry (ZooKeeper's `jute.maxbuffer` is 1 MiB - 1 by default, and
/// bounds a whole request).
const MULTI_BYTES: usize = 960 * 1024;

/// A batch's `multi` stays under this many bytes (estimated), well inside ZooKeeper's 1 MiB
/// `jute.maxbuffer`; a transaction bigger than that on its own goes alone.
const BATCH_BYTES: usize = 768 * 1024;

/// A transaction waiting for the writer.
pub(crate) struct Request {
    pub txn: Txn,
    pub prepared: BTreeMap<usize, NewValue>,
    pub prewritten: BTreeSet<usize>,
    pub reply: oneshot::Sender<Result<Decided>>,
}

/// A transaction's outcome; the values of what it read or deleted are still to be read.
pub(crate) struct Decided {
    pub succeeded: bool,
    pub revision: u64,
    pub results: Vec<Planned>,
    pub used: BTreeSet<usize>,
}

impl Request {
    /// The bytes it adds to a `multi`, roughly: values sent inline, records and entries.
    fn size(&self) -> usize {
        let values: usize = self
            .prepared
            .iter()
            .filter(|(n, _)| !self.prewritten.contains(n))
            // A small value travels in the record and the log entry, a large one in its znodes.
            .map(|(_, v)| 2 * v.reference.len())
            .sum();
        let ops = self.txn.success.iter().chain(&self.txn.failure);
        let keys: usize = ops
            .map(|op| match op {
                TxnOp::Put { key, .. } | TxnOp::Get { key } | TxnOp::Delete { key } => key.len(),
                TxnOp::DeleteRange { key, range_end } => key.len() + range_end.len(),
            })
            .sum();
        values + 4 * keys + 512 * (self.txn.success.len() + self.txn.failure.len() + 1)
    }
}

/// Starts the writer of a backend; it ends when the backend is dropped.
pub(crate) fn spawn_writer(inner: &Arc<Inner>, mut queue: mpsc::UnboundedReceiver<Request>) {
    let weak: Weak<Inner> = Arc::downgrade(inner);
    tokio::spawn(async move {
        let mut carried: Option<Request> = None;
        loop {
            let first = match carried.take() {
                Some(request) => request,
                None => match queue.recv().await {
                    Some(request) => request,
                    None => return,
                },
            };
            let mut size = first.size();
            let mut batch = vec![first];
            while let Ok(next) = queue.try_recv() {
                size += next.size();
                if size > BATCH_BYTES {
                    carried = Some(next);
                    break;
                }
                batch.push(next);
            }
            let Some(inner) = Weak::upgrade(&weak) else {
                return;
            };
            // Batches too big for one request are split in two, the older half first.
            let mut pending = vec![batch];
            while let Some(batch) = pending.pop() {
                if let Some(mut too_big) = run(&inner, batch).await {
                    let newer = too_big.split_off(too_big.len() / 2);
                    pending.push(newer);
                    pending.push(too_big);
                }
            }
            drop(inner);
            // Let the writers just answered go first: one that lost a compare-and-swap retries
            // at once with the value that won, and should be in the next batch before the
            // winner, who reads before its next attempt. Without this a winner could win every
            // round (the conformance case `concurrent_guaranteed_updates_add_up`).
            for _ in 0..LINGER_YIELDS {
                tokio::task::yield_now().await;
            }
        }
    });
}

/// One transaction's outcome within a batch.
enum Outcome {
    Wrote(u64, Plan),
    Read(u64, Plan),
    Failed(Error),
}

enum Committed {
    Yes,
    /// The `multi` would be over [`MULTI_BYTES`]: split the batch.
    TooBig,
    LostRace,
    DeadLease(i64),
}

/// Decides and commits a batch, and answers each of its transactions; returns it unanswered
/// when its `multi` would be too big for one request (then split it).
async fn run(inner: &Inner, batch: Vec<Request>) -> Option<Vec<Request>> {
    let mut dead = BTreeSet::new();
    for _ in 0..ATTEMPTS {
        let view = match read_view(inner, &batch).await {
            Ok(view) => view,
            Err(err) => {
                answer_all(batch, &err);
                return None;
            }
        };
        let mut state = view.keys.clone();
        let mut revision = view.revision;
        let mut outcomes = Vec::with_capacity(batch.len());
        for request in &batch {
            match plan::decide(&state, revision + 1, &request.txn, &request.prepared, &dead) {
                Ok(plan) if plan.events.is_empty() => outcomes.push(Outcome::Read(revision, plan)),
                Ok(plan) => {
                    revision += 1;
                    for (key, after) in &plan.after {
                        state.insert(key.clone(), after.clone());
                    }
                    outcomes.push(Outcome::Wrote(revision, plan));
                }
                Err(err) => outcomes.push(Outcome::Failed(err)),
            }
        }
        let committed = if revision == view.revision && view.consistent {
            Committed::Yes
        } else if revision == view.revision {
            // Nothing to write: the reads are the answer, if the head did not move under them.
            match head_is(inner, view.revision).await {
                Ok(true) => Committed::Yes,
                Ok(false) => Committed::LostRace,
                Err(err) => {
                    answer_all(batch, &err);
                    return None;
                }
            }
        } else {
            let _one_writer = inner.write_lock.lock().await;
            match commit(inner, &view, &state, &outcomes, &batch).await {
                Ok(committed) => committed,
                Err(err) => {
                    answer_all(batch, &err);
                    return None;
                }
            }
        };
        match committed {
            Committed::Yes => {
                for (request, outcome) in batch.into_iter().zip(outcomes) {
                    let answer = match outcome {
                        Outcome::Wrote(revision, plan) | Outcome::Read(revision, plan) => {
                            Ok(Decided {
                                succeeded: plan.succeeded,
                                revision,
                                results: plan.results,
                                used: plan.used,
                            })
                        }
                        Outcome::Failed(err) => Err(err),
                    };
                    let _ = request.reply.send(answer);
                }
                return None;
            }
            Committed::LostRace => continue,
            Committed::TooBig => return Some(batch),
            Committed::DeadLease(id) => {
                dead.insert(id);
            }
        }
    }
    answer_all(
        batch,
        &Error::Unavailable {
            message: format!(
                "zookeeper: lost the race for the next revision {ATTEMPTS} times in a row"
            ),
            source: None,
        },
    );
    None
}

/// The error of a write `multi` that failed as a request: one cut off after it was sent (a lost
/// connection, an expired session, a timeout) may have been applied, so it is ambiguous; one
/// that never left (no server to send it to, a closed client) is unavailable.
fn write_failed(source: zk::Error) -> Error {
    let sent = !matches!(source, zk::Error::NoHosts | zk::Error::ClientClosed);
    match map_error("committing a write", source) {
        Error::Unavailable { message, source } if sent => Error::Ambiguous {
            message: format!("{message}; the write may or may not have been applied"),
            source,
        },
        other => other,
    }
}

/// Gives every transaction of the batch the error (a copy of it: errors are not `Clone`).
fn answer_all(batch: Vec<Request>, err: &Error) {
    for request in batch {
        let copy = match err {
            Error::Unavailable { message, .. } => Error::Unavailable {
                message: message.clone(),
                source: None,
            },
            Error::Ambiguous { message, .. } => Error::Ambiguous {
                message: message.clone(),
                source: None,
            },
            Error::PermissionDenied { message } => Error::PermissionDenied {
                message: message.clone(),
            },
            Error::Unauthenticated { message } => Error::Unauthenticated {
                message: message.clone(),
            },
            other => Error::Backend {
                message: other.to_string(),
                source: None,
            },
        };
        let _ = request.reply.send(Err(copy));
    }
}

async fn head_is(inner: &Inner, revision: u64) -> Result<bool> {
    let client = inner.conn.client();
    let path = inner.layout.head();
    let (data, _) = inner
        .conn
        .call("reading the head revision", client.get_data(&path))
        .await?;
    Ok(decode_counter(&path, &data)? == revision)
}

/// The keys as they stood at `revision`.
struct View {
    revision: u64,
    keys: KeyStates,
    /// Whether the head was the same after the keys were read: then nothing changed in
    /// between, and the keys are exactly as they stood at `revision`.
    consistent: bool,
}

/// Reads the head and, after it, every key the batch names (and those its range deletes
/// cover); all requests sent at once.
async fn read_view(inner: &Inner, batch: &[Request]) -> Result<View> {
    let client = inner.conn.client();
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut ranges = Vec::new();
    for request in batch {
        let txn = &request.txn;
        names.extend(txn.compare.iter().map(|c| c.key.clone()));
        for op in txn.success.iter().chain(&txn.failure) {
            match op {
                TxnOp::Put { key, .. } | TxnOp::Get { key } | TxnOp::Delete { key } => {
                    names.insert(key.clone());
                }
                TxnOp::DeleteRange { key, range_end } => {
                    ranges.push((key.clone(), range_end.clone()))
                }
            }
        }
    }
    let head_path = inner.layout.head();
    let keys_dir = inner.layout.keys_dir();
    let head = client.get_data(&head_path);
    let listing = (!ranges.is_empty()).then(|| client.list_children(&keys_dir));
    let (head, _) = inner.conn.call("reading the head revision", head).await?;
    let revision = decode_counter(&head_path, &head)?;
    if let Some(listing) = listing {
        for name in inner.conn.call("listing keys", listing).await? {
            if let Some(key) = unescape(&name) {
                if ranges
                    .iter()
                    .any(|(start, end)| in_range(&key, start, Some(end)))
                {
                    names.insert(key);
                }
            }
        }
    }
    let reads = fetch::records::<KeyRecord>(
        inner,
        &client,
        names.iter().map(|key| inner.layout.key(key)),
        "reading a key",
    );
    let head_after = client.get_data(&head_path);
    let records = reads.await?;
    let (head_after, _) = inner
        .conn
        .call("reading the head revision", head_after)
        .await?;
    Ok(View {
        revision,
        keys: names.into_iter().zip(records).collect(),
        consistent: decode_counter(&head_path, &head_after)? == revision,
    })
}

/// Commits a decided batch in one `multi`; `state` is every key after the whole batch.
async fn commit(
    inner: &Inner,
    view: &View,
    state: &KeyStates,
    outcomes: &[Outcome],
    batch: &[Request],
) -> Result<Committed> {
    let client = inner.conn.client();
    let mut multi = client.new_multi_writer();
    let bad = |err: zk::Error| map_error("building a transaction", err);
    let mut last = view.revision;
    let mut changed: BTreeSet<&String> = BTreeSet::new();
    let mut leases: BTreeSet<i64> = BTreeSet::new();
    // The request's size: paths and data, and a little per operation.
    let mut size = 0;
    let mut sized = |path: &str, data: usize| size += path.len() + data + 32;
    for outcome in outcomes {
        if let Outcome::Wrote(revision, plan) = outcome {
            let entry = encode(&LogEntry {
                events: plan.events.clone(),
            });
            sized(&inner.layout.log(*revision), entry.len());
            // The first of these is the compare-and-append: it fails if the revision is taken.
            multi
                .add_create(&inner.layout.log(*revision), &entry, &PERSISTENT)
                .map_err(bad)?;
            last = *revision;
            changed.extend(plan.after.keys());
            leases.extend(&plan.attaches);
        }
    }
    let mut ops = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Wrote(..)))
        .count();
    multi
        .add_set_data(&inner.layout.head(), &encode_counter(last), None)
        .map_err(bad)?;
    ops += 1;
    // Every lease a put attached a key to must still exist.
    let mut lease_ops: BTreeMap<usize, i64> = BTreeMap::new();
    for lease in &leases {
        multi
            .add_check_version(&inner.layout.lease(*lease), -1)
            .map_err(bad)?;
        lease_ops.insert(ops, *lease);
        ops += 1;
    }
    for (request, outcome) in batch.iter().zip(outcomes) {
        if let Outcome::Wrote(_, plan) = outcome {
            for n in plan.used.difference(&request.prewritten) {
                if let Some(value) = request.prepared.get(n) {
                    for (path, bytes) in &value.chunks {
                        sized(path, bytes.len());
                        multi.add_create(path, bytes, &PERSISTENT).map_err(bad)?;
                        ops += 1;
                    }
                }
            }
        }
    }
    for key in changed {
        let before = view.keys.get(key).cloned().flatten();
        let after = state.get(key).cloned().flatten();
        let path = inner.layout.key(key);
        sized(&path, after.as_ref().map_or(0, |r| encode(r).len()));
        match (&before, &after) {
            (Some(_), Some(record)) => {
                multi
                    .add_set_data(&path, &encode(record), None)
                    .map_err(bad)?;
                ops += 1;
            }
            (None, Some(record)) => {
                multi
                    .add_create(&path, &encode(record), &PERSISTENT)
                    .map_err(bad)?;
                ops += 1;
            }
            (Some(_), None) => {
                multi.add_delete(&path, None).map_err(bad)?;
                ops += 1;
            }
            (None, None) => {}
        }
        let old_lease = before.as_ref().and_then(|r| r.lease);
        let new_lease = after.as_ref().and_then(|r| r.lease);
        if old_lease != new_lease {
            sized(&inner.layout.lease_key(0, key), 0);
            sized(&inner.layout.lease_key(0, key), 0);
            if let Some(old) = old_lease {
                multi
                    .add_delete(&inner.layout.lease_key(old, key), None)
                    .map_err(bad)?;
                ops += 1;
            }
            if let Some(new) = new_lease {
                multi
                    .add_create(&inner.layout.lease_key(new, key), &[], &PERSISTENT)
                    .map_err(bad)?;
                lease_ops.insert(ops, new);
                ops += 1;
            }
        }
    }
    sized("", 64 * leases.len() + 64);
    if size > MULTI_BYTES {
        return match batch.len() {
            1 => Err(Error::InvalidArgument(format!(
                "the transaction needs about {size} bytes in one ZooKeeper request, over the {MULTI_BYTES} this backend sends at once (ZooKeeper's jute.maxbuffer is 1 MiB): write fewer or smaller values per transaction"
            ))),
            _ => Ok(Committed::TooBig),
        };
    }
    let answer = tokio::time::timeout(inner.conn.request_timeout(), multi.commit()).await;
    match answer {
        Ok(Ok(_)) => Ok(Committed::Yes),
        Ok(Err(zk::MultiWriteError::OperationFailed {
            index: 0,
            source: zk::Error::NodeExists,
        })) => Ok(Committed::LostRace),
        Ok(Err(zk::MultiWriteError::OperationFailed {
            index,
            source: zk::Error::NoNode,
        })) if lease_ops.contains_key(&index) => Ok(Committed::DeadLease(lease_ops[&index])),
        Ok(Err(zk::MultiWriteError::OperationFailed { index, source })) => Err(Error::Backend {
            message: format!(
                "zookeeper: operation {index} of the write of revisions {}..={last} failed: {source} (were the store's znodes under {} changed by hand?)",
                view.revision + 1,
                inner.layout.root()
            ),
            source: Some(Box::new(source)),
        }),
        Ok(Err(zk::MultiWriteError::RequestFailed { source })) => {
            inner.conn.after_error(&source).await;
            Err(write_failed(source))
        }
        Err(_) => Err(Error::Ambiguous {
            message: format!(
                "zookeeper: committing a write: no answer within {:?}; the write may or may not have been applied",
                inner.conn.request_timeout()
            ),
            source: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::write_failed;
    use super::zk;

    #[test]
    fn a_write_cut_off_after_sending_is_ambiguous() {
        for lost in [
            zk::Error::ConnectionLoss,
            zk::Error::SessionExpired,
            zk::Error::Timeout,
        ] {
            let err = write_failed(lost);
            assert!(err.is_ambiguous() && !err.is_retryable(), "{err}");
        }
        for unsent in [zk::Error::NoHosts, zk::Error::ClientClosed] {
            assert!(write_failed(unsent).is_unavailable());
        }
        assert!(write_failed(zk::Error::NoAuth).is_permission_denied());
    }
}
