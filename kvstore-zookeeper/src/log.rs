//! The revision log: `log/<revision>` holds the events of the write transaction of that
//! revision. Writers create the next entry in the same ZooKeeper `multi` as their changes, so
//! the log is dense (every revision from the compaction point to the head has its entry) and
//! creating an existing entry is how a writer learns it lost the race for that revision.
//!
//! An entry's put leaves a small value to the key's record ([`ValueRef::Record`]); reading
//! entries resolves it from the `prev` of the key's next change, in the entries read or after
//! them, or from the key's record when the put is still its current state.

use std::collections::HashMap;
use std::sync::Arc;

use kvstore_core::engine::{Commit, Head};
use kvstore_core::{Error, Result};

use crate::inner::Inner;
use crate::records::{
    corrupt, decode, decode_counter, read_counter, KeyRecord, LogEntry, ValueRef,
};
use crate::{fetch, values};

/// At most this many log entries are asked for at once.
pub(crate) const READ_BATCH: u64 = 64;

/// The store's revision and compaction point, read after a `sync`, so at least as new as any
/// write acknowledged before the call.
pub(crate) async fn head(inner: &Inner) -> Result<Head> {
    let client = inner.conn.client();
    let (head_path, compacted_path) = (inner.layout.head(), inner.layout.compacted());
    let sync = client.sync(&head_path);
    let head = client.get_data(&head_path);
    let compacted = client.get_data(&compacted_path);
    let (_, (head, _), (compacted, _)) = futures::try_join!(
        inner.conn.call("sync", sync),
        inner.conn.call("reading the head revision", head),
        inner.conn.call("reading the compaction point", compacted),
    )?;
    let head = Head {
        revision: decode_counter(&head_path, &head)?,
        compacted: decode_counter(&compacted_path, &compacted)?,
    };
    inner.learn_head(head.revision);
    Ok(head)
}

/// The entries of revisions `from..=to`, in order; `None` where an entry is gone (compacted).
pub(crate) async fn read(
    inner: &Inner,
    from: u64,
    to: u64,
) -> Result<Vec<(u64, Option<LogEntry>)>> {
    let client = inner.conn.client();
    let paths = (from..=to).map(|revision| inner.layout.log(revision));
    let entries = fetch::records::<LogEntry>(inner, &client, paths, "reading the log").await?;
    Ok((from..=to).zip(entries).collect())
}

/// The entries of `from..=to`, every one present; `Gone` if compaction removed one.
pub(crate) async fn read_all(inner: &Inner, from: u64, to: u64) -> Result<Vec<(u64, LogEntry)>> {
    let mut out = Vec::new();
    let mut start = from;
    while start <= to {
        let end = to.min(start + READ_BATCH - 1);
        for (revision, entry) in read(inner, start, end).await? {
            match entry {
                Some(entry) => out.push((revision, entry)),
                None => return Err(missing_entry(inner, revision).await),
            }
        }
        start = end + 1;
    }
    Ok(out)
}

/// The error for a log entry that should exist and does not: `Gone` when compaction passed
/// it, else the store was changed behind the backend's back.
pub(crate) async fn missing_entry(inner: &Inner, revision: u64) -> Error {
    match head(inner).await {
        Ok(head) if revision < head.compacted => Error::Gone {
            revision,
            compacted: head.compacted,
        },
        Ok(_) => Error::Backend {
            message: format!(
                "zookeeper: log entry {} is missing below the head revision",
                inner.layout.log(revision)
            ),
            source: None,
        },
        Err(err) => err,
    }
}

/// [`read_all`], every put's value where it is (no [`ValueRef::Record`] left).
pub(crate) async fn read_resolved(
    inner: &Inner,
    from: u64,
    to: u64,
) -> Result<Vec<(u64, LogEntry)>> {
    let mut entries = read_all(inner, from, to).await?;
    resolve(inner, &mut entries, to).await?;
    Ok(entries)
}

/// A put whose value is left to its key's record: where it is in `entries`.
struct Unresolved {
    entry: usize,
    event: usize,
    revision: u64,
}

/// Resolves the puts of `entries` (revisions up to `to`) that leave their value to the key's
/// record: from the `prev` of the key's next change — among `entries`, else in the key's
/// record if the put is still its state, else after `to`.
async fn resolve(inner: &Inner, entries: &mut [(u64, LogEntry)], to: u64) -> Result<()> {
    // Newest first: each key's next change is seen before the put it replaced.
    let mut next_prev: HashMap<&str, Option<&KeyRecord>> = HashMap::new();
    let mut found: Vec<(usize, usize, ValueRef)> = Vec::new();
    let mut open: HashMap<String, Unresolved> = HashMap::new();
    for (e, (revision, entry)) in entries.iter().enumerate().rev() {
        for (v, event) in entry.events.iter().enumerate().rev() {
            if let Some(put) = event.put.as_ref().filter(|p| p.value == ValueRef::Record) {
                match next_prev.get(event.key.as_str()) {
                    Some(prev) => found.push((e, v, replaced_value(inner, *revision, *prev)?)),
                    None => {
                        let revision = put.modified;
                        open.insert(
                            event.key.clone(),
                            Unresolved {
                                entry: e,
                                event: v,
                                revision,
                            },
                        );
                    }
                }
            }
            next_prev.insert(&event.key, event.prev.as_ref());
        }
    }
    found.extend(current_values(inner, &mut open, to).await?);
    for (e, v, value) in found {
        if let Some(put) = entries[e].1.events[v].put.as_mut() {
            put.value = value;
        }
    }
    Ok(())
}

/// The value a change's `prev` kept for the put of `revision` it replaced.
fn replaced_value(inner: &Inner, revision: u64, prev: Option<&KeyRecord>) -> Result<ValueRef> {
    match prev {
        Some(prev) if prev.modified == revision && prev.value != ValueRef::Record => {
            Ok(prev.value.clone())
        }
        _ => Err(corrupt(
            &inner.layout.log(revision),
            "the change after this entry's put does not keep the value it replaced",
        )),
    }
}

/// Resolves the puts of `open` not replaced up to `to`: from each key's record when the put
/// is still its state, else from the `prev` of its next change after `to` (read until every
/// one is found). Returns where each value goes.
async fn current_values(
    inner: &Inner,
    open: &mut HashMap<String, Unresolved>,
    to: u64,
) -> Result<Vec<(usize, usize, ValueRef)>> {
    let mut found = Vec::new();
    if open.is_empty() {
        return Ok(found);
    }
    let client = inner.conn.client();
    let keys: Vec<String> = open.keys().cloned().collect();
    let mut head = to;
    for chunk in keys.chunks(fetch::KEYS_TOGETHER) {
        // The head with the records: a put replaced since was replaced at or before it.
        let mut paths = vec![inner.layout.head()];
        paths.extend(chunk.iter().map(|key| inner.layout.key(key)));
        let answers = fetch::together(inner, &client, &paths, "reading keys").await?;
        let mut answers = answers.into_iter();
        head = head.max(read_counter(&paths[0], answers.next().flatten())?);
        for ((key, path), answer) in chunk.iter().zip(&paths[1..]).zip(answers) {
            let Some(bytes) = answer else { continue };
            let record: KeyRecord = decode(path, &bytes)?;
            if open
                .get(key)
                .is_some_and(|put| put.revision == record.modified)
            {
                if let Some(put) = open.remove(key) {
                    found.push((put.entry, put.event, record.value));
                }
            }
        }
    }
    let mut start = to + 1;
    while !open.is_empty() && start <= head {
        let end = head.min(start + READ_BATCH - 1);
        for (_, entry) in read_all(inner, start, end).await? {
            for event in entry.events {
                if let Some(put) = open.remove(&event.key) {
                    let value = replaced_value(inner, put.revision, event.prev.as_ref())?;
                    found.push((put.entry, put.event, value));
                }
            }
        }
        start = end + 1;
    }
    match open.keys().next() {
        None => Ok(found),
        Some(key) => Err(corrupt(
            &inner.layout.key(key),
            "a put of the log is neither the key's state nor replaced by a later change",
        )),
    }
}

/// The commits of revisions `from..=to`, with their values; `Gone` if compaction removed one.
pub(crate) async fn commits(inner: &Inner, from: u64, to: u64) -> Result<Vec<Arc<Commit>>> {
    let entries = read_resolved(inner, from, to).await?;
    let mut refs = Vec::new();
    for (_, entry) in &entries {
        for event in &entry.events {
            refs.extend(event.put.as_ref().map(|put| &put.value));
            refs.extend(event.prev.as_ref().map(|prev| &prev.value));
        }
    }
    let loaded = values::read(inner, &refs).await?;
    if loaded.iter().any(Option::is_none) {
        return Err(missing_entry(inner, from).await);
    }
    let mut loaded = loaded.into_iter().flatten();
    let mut commits = Vec::with_capacity(entries.len());
    for (revision, entry) in entries {
        let events = entry.events.iter().map(|event| {
            let value = event
                .put
                .as_ref()
                .map(|_| loaded.next().unwrap_or_default());
            let prev = event
                .prev
                .as_ref()
                .map(|_| loaded.next().unwrap_or_default());
            event.to_event(revision, value.unwrap_or_default(), prev)
        });
        commits.push(Arc::new(Commit {
            revision,
            events: events.collect(),
        }));
    }
    Ok(commits)
}
