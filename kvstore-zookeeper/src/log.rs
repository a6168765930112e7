//! The revision log: `log/<revision>` holds the events of the write transaction of that
//! revision. Writers create the next entry in the same ZooKeeper `multi` as their changes, so
//! the log is dense (every revision from the compaction point to the head has its entry) and
//! creating an existing entry is how a writer learns it lost the race for that revision.

use std::sync::Arc;

use kvstore_core::engine::{Commit, Head};
use kvstore_core::{Error, Result};

use crate::inner::Inner;
use crate::records::{decode_counter, LogEntry};
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

/// The commits of revisions `from..=to`, with their values; `Gone` if compaction removed one.
pub(crate) async fn commits(inner: &Inner, from: u64, to: u64) -> Result<Vec<Arc<Commit>>> {
    let entries = read_all(inner, from, to).await?;
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
