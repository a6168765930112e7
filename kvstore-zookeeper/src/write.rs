//! Write transactions: read the head revision and the keys the transaction names, decide its
//! outcome here, then commit every change in one ZooKeeper `multi` that starts by creating the
//! next log entry. If another writer took that revision first, the `multi` fails as a whole at
//! its first operation and the transaction is decided again on fresh reads (the caller never
//! sees that race). So a write costs two round trips: one to read (head and keys sent
//! together), one `multi` of 1 (log entry) + 1 (head) + per put 2 (value and key znodes) or per
//! delete 1 (key znode), plus one per lease attachment that changes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures::future::try_join_all;
use kvstore_core::backend::{KeyValue, PutLease, Txn, TxnOp, TxnOpResult, TxnResponse};
use kvstore_core::{Error, LeaseId, Result};
use zookeeper_client as zk;

use crate::connection::map_error;
use crate::inner::Inner;
use crate::layout::{unescape, PERSISTENT};
use crate::read::in_range;
use crate::records::{
    decode, decode_counter, encode, encode_counter, KeyRecord, LogEntry, LoggedEvent,
};
use crate::values::{self, NewValue};

/// How many times a transaction is decided again after losing its revision to another client.
const ATTEMPTS: usize = 1000;

/// The requests of one `multi` may carry this many bytes of values; more are written first, in
/// requests of their own (a request must stay under ZooKeeper's `jute.maxbuffer`, 1 MiB).
const INLINE_VALUES: usize = 640 * 1024;

/// The keys as they stood at `revision`: what a transaction is decided on.
struct View {
    revision: u64,
    /// Every key the transaction may touch: its record, or `None` when absent.
    keys: BTreeMap<String, Option<KeyRecord>>,
}

/// Runs a transaction.
pub(crate) async fn txn(inner: &Inner, txn: &Txn) -> Result<TxnResponse> {
    // Values are written to znodes of their own; large ones before the decisive `multi`, once.
    let mut prepared: BTreeMap<usize, NewValue> = BTreeMap::new();
    let mut prewritten = BTreeSet::new();
    let ops: Vec<&TxnOp> = txn.success.iter().chain(&txn.failure).collect();
    let inline: usize = ops
        .iter()
        .map(|op| match op {
            TxnOp::Put { value, .. } => value.len(),
            _ => 0,
        })
        .sum();
    for (n, op) in ops.iter().enumerate() {
        if let TxnOp::Put { value, .. } = op {
            let value = NewValue::new(inner, value);
            if inline > INLINE_VALUES {
                write_chunks(inner, &value).await?;
                prewritten.insert(n);
            }
            prepared.insert(n, value);
        }
    }
    let result = decide_and_commit(inner, txn, &prepared, &prewritten).await;
    if !prewritten.is_empty() {
        let used = match &result {
            Ok((_, used)) => used.clone(),
            Err(_) => BTreeSet::new(),
        };
        // Values written ahead that the outcome did not use: delete them.
        for n in prewritten.difference(&used) {
            if let Some(value) = prepared.get(n) {
                delete_chunks(inner, &values::chunk_paths(inner, &value.reference)).await;
            }
        }
    }
    let (response, _) = result?;
    Ok(response)
}

/// Creates a value's znodes, each in a request of its own.
async fn write_chunks(inner: &Inner, value: &NewValue) -> Result<()> {
    let client = inner.conn.client();
    let requests = value.chunks.iter().map(|(path, bytes)| {
        let request = client.create(path, bytes, &PERSISTENT);
        inner.conn.call("writing a value", request)
    });
    try_join_all(requests).await?;
    Ok(())
}

/// Deletes znodes, best effort (what is left is garbage, not state).
pub(crate) async fn delete_chunks(inner: &Inner, paths: &[String]) {
    let client = inner.conn.client();
    let requests = paths.iter().map(|path| {
        let request = client.delete(path, None);
        inner.conn.call_maybe("deleting a value", request)
    });
    if let Err(err) = try_join_all(requests).await {
        tracing::debug!(%err, "zookeeper: a value's znodes were left behind");
    }
}

/// Reads the view, decides, commits; again on a lost race. Returns the response and which
/// prepared values the committed outcome used.
async fn decide_and_commit(
    inner: &Inner,
    txn: &Txn,
    prepared: &BTreeMap<usize, NewValue>,
    prewritten: &BTreeSet<usize>,
) -> Result<(TxnResponse, BTreeSet<usize>)> {
    for _ in 0..ATTEMPTS {
        let view = read_view(inner, txn).await?;
        let succeeded = txn.compare.iter().all(|c| {
            let (create, modified) = view
                .keys
                .get(&c.key)
                .and_then(Option::as_ref)
                .map_or((0, 0), |r| (r.create, r.modified));
            c.holds(create, modified)
        });
        let (ops, offset) = if succeeded {
            (&txn.success, 0)
        } else {
            (&txn.failure, txn.success.len())
        };
        let plan = plan(inner, &view, ops, offset, prepared)?;
        if plan.events.is_empty() {
            // Nothing to write: the reads are the answer, if the head did not move under them.
            if head_unchanged(inner, view.revision).await? {
                return Ok((
                    response(inner, succeeded, view.revision, plan.results).await?,
                    BTreeSet::new(),
                ));
            }
            continue;
        }
        let revision = view.revision + 1;
        // One commit at a time from this client: a writer whose view another write of this
        // client already outdated reads again instead of sending a `multi` bound to fail.
        // Deciding (and failing compares) happens outside, so a writer that loses a
        // compare-and-swap hears it at once and is not queued behind the winners.
        let _one_writer = inner.write_lock.lock().await;
        if inner.committed.load(Ordering::Acquire) > view.revision {
            continue;
        }
        let committed = commit(inner, &view, &plan, revision, prepared, prewritten).await?;
        if let Committed::Yes = committed {
            inner.committed.fetch_max(revision, Ordering::AcqRel);
        }
        match committed {
            Committed::Yes => {
                return Ok((
                    response(inner, succeeded, revision, plan.results).await?,
                    plan.used,
                ))
            }
            Committed::LostRace => continue,
        }
    }
    Err(Error::Unavailable {
        message: format!(
            "zookeeper: lost the race for the next revision {ATTEMPTS} times in a row"
        ),
        source: None,
    })
}

async fn head_unchanged(inner: &Inner, revision: u64) -> Result<bool> {
    let client = inner.conn.client();
    let path = inner.layout.head();
    let (data, _) = inner
        .conn
        .call("reading the head revision", client.get_data(&path))
        .await?;
    Ok(decode_counter(&path, &data)? == revision)
}

/// Reads the head and, after it, every key the transaction names (and those its range
/// deletes cover); all requests sent at once.
async fn read_view(inner: &Inner, txn: &Txn) -> Result<View> {
    let client = inner.conn.client();
    let mut names: BTreeSet<String> = txn.compare.iter().map(|c| c.key.clone()).collect();
    let mut ranges = Vec::new();
    for op in txn.success.iter().chain(&txn.failure) {
        match op {
            TxnOp::Put { key, .. } | TxnOp::Get { key } | TxnOp::Delete { key } => {
                names.insert(key.clone());
            }
            TxnOp::DeleteRange { key, range_end } => ranges.push((key.clone(), range_end.clone())),
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
    let reads = names.iter().map(|key| {
        let path = inner.layout.key(key);
        let request = client.get_data(&path);
        async move {
            let found = inner.conn.call_maybe("reading a key", request).await?;
            match found {
                Some((data, _)) => Ok::<_, Error>(Some(decode::<KeyRecord>(&path, &data)?)),
                None => Ok(None),
            }
        }
    });
    let records = try_join_all(reads).await?;
    Ok(View {
        revision,
        keys: names.into_iter().zip(records).collect(),
    })
}

/// What a transaction's operations do, decided on a view.
struct Plan {
    results: Vec<Planned>,
    events: Vec<LoggedEvent>,
    /// Every key's state after the transaction, for the keys it changed.
    after: BTreeMap<String, Option<KeyRecord>>,
    /// Which prepared values the writes use.
    used: BTreeSet<usize>,
}

/// A result whose values are still to be read.
enum Planned {
    Put,
    Get(Option<(String, KeyRecord)>),
    Delete(Vec<(String, KeyRecord)>),
}

fn plan(
    inner: &Inner,
    view: &View,
    ops: &[TxnOp],
    offset: usize,
    prepared: &BTreeMap<usize, NewValue>,
) -> Result<Plan> {
    let revision = view.revision + 1;
    let mut state = view.keys.clone();
    let mut plan = Plan {
        results: Vec::with_capacity(ops.len()),
        events: Vec::new(),
        after: BTreeMap::new(),
        used: BTreeSet::new(),
    };
    // Fails before any change, as on every backend: a put keeping the lease of a missing key.
    for op in ops {
        if let TxnOp::Put {
            key,
            lease: PutLease::Keep,
            ..
        } = op
        {
            if state.get(key).and_then(Option::as_ref).is_none() {
                return Err(Error::NotFound { key: key.clone() });
            }
        }
    }
    for (n, op) in ops.iter().enumerate() {
        match op {
            TxnOp::Put { key, lease, .. } => {
                let prev = state.get(key).cloned().flatten();
                let lease = match lease {
                    PutLease::Detach => None,
                    PutLease::Attach(id) => Some(id.0),
                    PutLease::Keep => prev.as_ref().and_then(|p| p.lease),
                };
                let value = prepared.get(&(n + offset)).ok_or_else(|| Error::Backend {
                    message: format!(
                        "zookeeper: no value prepared for the put of {key} ({})",
                        inner.layout.root()
                    ),
                    source: None,
                })?;
                plan.used.insert(n + offset);
                let record = KeyRecord {
                    create: prev.as_ref().map_or(revision, |p| p.create),
                    modified: revision,
                    lease,
                    value: value.reference.clone(),
                };
                plan.events.push(LoggedEvent {
                    key: key.clone(),
                    put: Some(record.clone()),
                    prev,
                });
                state.insert(key.clone(), Some(record.clone()));
                plan.after.insert(key.clone(), Some(record));
                plan.results.push(Planned::Put);
            }
            TxnOp::Get { key } => {
                let found = state.get(key).cloned().flatten();
                plan.results
                    .push(Planned::Get(found.map(|r| (key.clone(), r))));
            }
            TxnOp::Delete { key } => {
                let deleted = delete(&mut state, &mut plan, key);
                plan.results
                    .push(Planned::Delete(deleted.into_iter().collect()));
            }
            TxnOp::DeleteRange { key, range_end } => {
                let keys: Vec<String> = state
                    .iter()
                    .filter(|(k, r)| r.is_some() && in_range(k, key, Some(range_end)))
                    .map(|(k, _)| k.clone())
                    .collect();
                let deleted = keys
                    .iter()
                    .filter_map(|k| delete(&mut state, &mut plan, k))
                    .collect();
                plan.results.push(Planned::Delete(deleted));
            }
        }
    }
    Ok(plan)
}

fn delete(
    state: &mut BTreeMap<String, Option<KeyRecord>>,
    plan: &mut Plan,
    key: &str,
) -> Option<(String, KeyRecord)> {
    let prev = state.get(key).cloned().flatten()?;
    state.insert(key.to_owned(), None);
    plan.after.insert(key.to_owned(), None);
    plan.events.push(LoggedEvent {
        key: key.to_owned(),
        put: None,
        prev: Some(prev.clone()),
    });
    Some((key.to_owned(), prev))
}

enum Committed {
    Yes,
    LostRace,
}

/// Commits a plan at `revision` in one `multi`.
async fn commit(
    inner: &Inner,
    view: &View,
    plan: &Plan,
    revision: u64,
    prepared: &BTreeMap<usize, NewValue>,
    prewritten: &BTreeSet<usize>,
) -> Result<Committed> {
    let client = inner.conn.client();
    let mut multi = client.new_multi_writer();
    let bad = |err: zk::Error| map_error("building a transaction", err);
    let entry = encode(&LogEntry {
        events: plan.events.clone(),
    });
    multi
        .add_create(&inner.layout.log(revision), &entry, &PERSISTENT)
        .map_err(bad)?;
    multi
        .add_set_data(&inner.layout.head(), &encode_counter(revision), None)
        .map_err(bad)?;
    for n in plan.used.difference(prewritten) {
        if let Some(value) = prepared.get(n) {
            for (path, bytes) in &value.chunks {
                multi.add_create(path, bytes, &PERSISTENT).map_err(bad)?;
            }
        }
    }
    // What each lease-attachment operation is, to name the lease if it fails.
    let mut attachments: BTreeMap<usize, i64> = BTreeMap::new();
    let mut ops = 2 + plan
        .used
        .difference(prewritten)
        .map(|n| prepared.get(n).map_or(0, |v| v.chunks.len()))
        .sum::<usize>();
    for (key, after) in &plan.after {
        let before = view.keys.get(key).cloned().flatten();
        let path = inner.layout.key(key);
        match (&before, after) {
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
                attachments.insert(ops, new);
                ops += 1;
            }
        }
    }
    match tokio::time::timeout(inner.conn.request_timeout(), multi.commit()).await {
        Ok(Ok(_)) => Ok(Committed::Yes),
        Ok(Err(zk::MultiWriteError::OperationFailed { index: 0, source: zk::Error::NodeExists })) => Ok(Committed::LostRace),
        Ok(Err(zk::MultiWriteError::OperationFailed { index, source: zk::Error::NoNode }))
            if attachments.contains_key(&index) =>
        {
            Err(Error::LeaseNotFound { lease: LeaseId(attachments[&index]) })
        }
        Ok(Err(zk::MultiWriteError::OperationFailed { index, source })) => Err(Error::Backend {
            message: format!(
                "zookeeper: operation {index} of the write of revision {revision} failed: {source} (were the store's znodes under {} changed by hand?)",
                inner.layout.root()
            ),
            source: Some(Box::new(source)),
        }),
        Ok(Err(zk::MultiWriteError::RequestFailed { source })) => {
            inner.conn.after_error(&source).await;
            Err(map_error("committing a write", source))
        }
        Err(_) => Err(Error::Unavailable {
            message: format!(
                "zookeeper: committing a write: no answer within {:?}",
                inner.conn.request_timeout()
            ),
            source: None,
        }),
    }
}

/// The answer, with the values of what was read or deleted.
async fn response(
    inner: &Inner,
    succeeded: bool,
    revision: u64,
    planned: Vec<Planned>,
) -> Result<TxnResponse> {
    let mut refs = Vec::new();
    for result in &planned {
        match result {
            Planned::Get(Some((_, record))) => refs.push(&record.value),
            Planned::Delete(deleted) => refs.extend(deleted.iter().map(|(_, r)| &r.value)),
            _ => {}
        }
    }
    let loaded = values::read(inner, &refs).await?;
    if loaded.iter().any(Option::is_none) {
        return Err(Error::Backend {
            message: format!(
                "zookeeper: a value the transaction of revision {revision} read was compacted away before it could be returned"
            ),
            source: None,
        });
    }
    let mut loaded = loaded.into_iter();
    let mut value = || loaded.next().flatten().unwrap_or_else(Bytes::new);
    let kv =
        |key: &str, record: &KeyRecord, value: Bytes| -> KeyValue { record.key_value(key, value) };
    let results = planned
        .iter()
        .map(|result| match result {
            Planned::Put => TxnOpResult::Put,
            Planned::Get(found) => TxnOpResult::Get(found.as_ref().map(|(k, r)| kv(k, r, value()))),
            Planned::Delete(deleted) => {
                TxnOpResult::Delete(deleted.iter().map(|(k, r)| kv(k, r, value())).collect())
            }
        })
        .collect();
    Ok(TxnResponse {
        succeeded,
        revision,
        results,
    })
}
