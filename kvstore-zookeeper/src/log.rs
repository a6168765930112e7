//! The revision log: `log/<revision>` holds the events of the write transaction of that
//! revision. Writers create the next entry in the same ZooKeeper `multi` as their changes, so
//! the log is dense (every revision from the compaction point to the head has its entry) and
//! creating an existing entry is how a writer learns it lost the race for that revision.

use kvstore_core::{Error, Result};

use crate::fetch;
use crate::inner::Inner;
use crate::records::{decode_counter, LogEntry};

/// At most this many log entries are asked for at once.
pub(crate) const READ_BATCH: u64 = 64;

/// The store's revision and compaction point, read after a `sync`, so at least as new as any
/// write acknowledged before the call.
pub(crate) async fn head(inner: &Inner) -> Result<(u64, u64)> {
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
    Ok((
        decode_counter(&head_path, &head)?,
        decode_counter(&compacted_path, &compacted)?,
    ))
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
        Ok((_, compacted)) if revision < compacted => Error::Gone {
            revision,
            compacted,
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
