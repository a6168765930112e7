//! Write transactions, as callers see them: values are prepared, the transaction is queued for
//! the writer (see `batch`), and the answer gets the values of what it read or deleted.
//!
//! A transaction whose values add up to [`SMALL_TXN`] bytes at most keeps those up to 4 KiB in
//! the records and sends the others' znodes in the batch's `multi`. A larger one writes every
//! value to znodes of its own first, in requests of their own, so that its `multi` carries only
//! records (a request must stay under ZooKeeper's `jute.maxbuffer`, 1 MiB).
//!
//! A write costs two round trips — one to read (head and keys sent together), one `multi` —
//! shared by the transactions waiting together. The `multi` holds, per writing transaction, a
//! log entry, per put the key's record (and its value's znodes, for a value over 4 KiB), per
//! delete one operation, plus the head, one existence check per lease attached to, and one per
//! lease attachment that changes.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use futures::future::try_join_all;
use kvstore_core::backend::{KeyValue, Txn, TxnOp, TxnOpResult, TxnResponse};
use kvstore_core::{Error, Result};
use tokio::sync::{mpsc, oneshot};

use crate::batch::{Decided, Request};
use crate::inner::Inner;
use crate::layout::PERSISTENT;
use crate::plan::Planned;
use crate::records::KeyRecord;
use crate::values::{self, NewValue};

/// A transaction whose values add up to more than this writes them ahead, to znodes.
const SMALL_TXN: usize = 64 * 1024;

/// Runs a transaction.
pub(crate) async fn txn(
    inner: &Inner,
    writes: &mpsc::UnboundedSender<Request>,
    txn: Txn,
) -> Result<TxnResponse> {
    let mut prepared: BTreeMap<usize, NewValue> = BTreeMap::new();
    let mut prewritten = BTreeSet::new();
    let total: usize = txn
        .success
        .iter()
        .chain(&txn.failure)
        .map(|op| match op {
            TxnOp::Put { value, .. } => value.len(),
            _ => 0,
        })
        .sum();
    for (n, op) in txn.success.iter().chain(&txn.failure).enumerate() {
        if let TxnOp::Put { value, .. } = op {
            let small = total <= SMALL_TXN;
            let value = NewValue::new(inner, value, small);
            if !small {
                write_chunks(inner, &value).await?;
                prewritten.insert(n);
            }
            prepared.insert(n, value);
        }
    }
    // The znodes of values written ahead, to delete if the outcome does not use them.
    let ahead: BTreeMap<usize, Vec<String>> = prewritten
        .iter()
        .filter_map(|n| {
            prepared
                .get(n)
                .map(|v| (*n, values::chunk_paths(inner, &v.reference)))
        })
        .collect();
    let (reply, answer) = oneshot::channel();
    let closed = || Error::Closed {
        what: "the zookeeper backend's writer".to_owned(),
    };
    let decided = match writes.send(Request {
        txn,
        prepared,
        prewritten,
        reply,
    }) {
        Ok(()) => answer.await.unwrap_or_else(|_| Err(closed())),
        Err(_) => Err(closed()),
    };
    let unused: Vec<String> = match &decided {
        Ok(decided) => ahead
            .iter()
            .filter(|(n, _)| !decided.used.contains(n))
            .flat_map(|(_, paths)| paths.iter().cloned())
            .collect(),
        // Not written, for sure: every value written ahead is garbage.
        Err(err) if !err.is_retryable() => ahead.into_values().flatten().collect(),
        // Perhaps written: keep them (at worst, garbage).
        Err(_) => Vec::new(),
    };
    if !unused.is_empty() {
        delete_chunks(inner, &unused).await;
    }
    response(inner, decided?).await
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

/// The answer, with the values of what was read or deleted.
async fn response(inner: &Inner, decided: Decided) -> Result<TxnResponse> {
    let mut refs = Vec::new();
    for result in &decided.results {
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
                "zookeeper: a value the transaction of revision {} read was compacted away before it could be returned",
                decided.revision
            ),
            source: None,
        });
    }
    let mut loaded = loaded.into_iter().flatten();
    let mut kv = |key: &str, record: &KeyRecord| -> KeyValue {
        record.key_value(key, loaded.next().unwrap_or_else(Bytes::new))
    };
    let results = decided
        .results
        .iter()
        .map(|result| match result {
            Planned::Put => TxnOpResult::Put,
            Planned::Get(found) => TxnOpResult::Get(found.as_ref().map(|(k, r)| kv(k, r))),
            Planned::Delete(deleted) => {
                TxnOpResult::Delete(deleted.iter().map(|(k, r)| kv(k, r)).collect())
            }
        })
        .collect();
    Ok(TxnResponse {
        succeeded: decided.succeeded,
        revision: decided.revision,
        results,
    })
}
