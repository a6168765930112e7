//! Range reads, at the head or at a past revision. The storage reads live keys at its head; a
//! read at an older revision undoes, key by key, the commits after it (each event keeps the
//! key's state before it), so a paginated list is one consistent snapshot. The limit is
//! applied after that: reading `limit + n + 1` keys at the head, where `n` is the number of
//! changes of the range since the revision, is enough for the page and for knowing whether
//! more follow.

use std::collections::BTreeMap;

use super::decide::in_range;
use super::known::Known;
use super::storage::{Snapshot, Storage};
use crate::backend::{KeyValue, RangeRequest, RangeResponse};
use crate::error::{Error, Result};

/// Serves a range read; what a read of one key finds becomes `known` to the writer.
pub(crate) async fn range<S: Storage>(
    storage: &S,
    known: &Known,
    request: &RangeRequest,
) -> Result<RangeResponse> {
    let Some(end) = request.range_end.as_deref() else {
        return single(storage, known, request).await;
    };
    let limit = request.limit;
    let mut wanted = limit;
    loop {
        let snapshot = storage.range(&request.key, end, wanted).await?;
        let at = request.read_revision(snapshot.revision, snapshot.compacted)?;
        if at == snapshot.revision {
            return Ok(page(snapshot.revision, snapshot.kvs, snapshot.more, limit));
        }
        let changes = changes_since(storage, at, snapshot.revision, |key| {
            in_range(key, &request.key, end)
        })
        .await?;
        let enough = limit + changes.len() + 1;
        if limit > 0 && snapshot.more && snapshot.kvs.len() < enough {
            wanted = enough;
            continue;
        }
        let kvs = rewind(snapshot.kvs, changes);
        return Ok(page(snapshot.revision, kvs, false, limit));
    }
}

/// One key, at the head or at a past revision.
async fn single<S: Storage>(
    storage: &S,
    known: &Known,
    request: &RangeRequest,
) -> Result<RangeResponse> {
    let asked = std::slice::from_ref(&request.key);
    let snapshot: Snapshot = storage.get(asked).await?;
    known.learn_read(&snapshot, asked);
    let at = request.read_revision(snapshot.revision, snapshot.compacted)?;
    let kvs = if at == snapshot.revision {
        snapshot.kvs
    } else {
        let changes =
            changes_since(storage, at, snapshot.revision, |key| key == request.key).await?;
        rewind(snapshot.kvs, changes)
    };
    Ok(page(snapshot.revision, kvs, false, request.limit))
}

/// One key at the head, possibly stale ([`Storage::get_possibly_stale`]); what it finds
/// becomes `known` (it is exact at its revision).
pub(crate) async fn possibly_stale<S: Storage>(
    storage: &S,
    known: &Known,
    key: &str,
) -> Result<RangeResponse> {
    let asked = [key.to_owned()];
    let snapshot = storage.get_possibly_stale(&asked).await?;
    known.learn_read(&snapshot, &asked);
    Ok(page(snapshot.revision, snapshot.kvs, false, 0))
}

/// The changes of keys `wanted` accepts in `(at, head]`, as (key, state before), newest first.
async fn changes_since<S: Storage>(
    storage: &S,
    at: u64,
    head: u64,
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<(String, Option<KeyValue>)>> {
    let commits = storage.log(at + 1, head).await.map_err(|err| match err {
        Error::Gone { compacted, .. } => Error::Gone {
            revision: at,
            compacted,
        },
        other => other,
    })?;
    Ok(commits
        .iter()
        .rev()
        .flat_map(|commit| commit.events.iter().rev())
        .filter(|event| wanted(&event.kv.key))
        .map(|event| (event.kv.key.clone(), event.prev_kv.clone()))
        .collect())
}

/// Undoes `changes` (newest first) on the keys at the head.
fn rewind(kvs: Vec<KeyValue>, changes: Vec<(String, Option<KeyValue>)>) -> Vec<KeyValue> {
    let mut keys: BTreeMap<String, KeyValue> =
        kvs.into_iter().map(|kv| (kv.key.clone(), kv)).collect();
    for (key, before) in changes {
        match before {
            Some(before) => keys.insert(key, before),
            None => keys.remove(&key),
        };
    }
    keys.into_values().collect()
}

fn page(revision: u64, mut kvs: Vec<KeyValue>, more: bool, limit: usize) -> RangeResponse {
    let cut = limit > 0 && kvs.len() > limit;
    if cut {
        kvs.truncate(limit);
    }
    RangeResponse {
        kvs,
        more: more || cut,
        revision,
    }
}
