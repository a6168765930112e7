//! Range reads: a consistent snapshot at the head, or at a past revision, from znodes that are
//! read one by one.
//!
//! The keys' znodes are read between two reads of the head revision (after a `sync`, so the
//! read is linearizable). When the head did not move, nothing changed in between and the
//! snapshot is the head's. When it moved, the log entries in between say which keys changed
//! and how they stood at the second head, so the snapshot is that head's. A read at a past
//! revision then undoes, key by key, the log entries after it.

use std::collections::BTreeMap;

use kvstore_core::backend::{KeyValue, RangeRequest, RangeResponse};
use kvstore_core::{Error, Result};

use crate::fetch;
use crate::inner::Inner;
use crate::layout::unescape;
use crate::records::{decode, decode_counter, KeyRecord};
use crate::{log, values};

/// How many times a read starts again when values it needs were compacted under it.
const ATTEMPTS: usize = 5;

/// Whether `key` is in the request's range.
pub(crate) fn in_range(key: &str, start: &str, end: Option<&str>) -> bool {
    match end {
        None => key == start,
        Some(end) => key >= start && key < end,
    }
}

/// The records of the live keys in a range at one revision.
pub(crate) struct Snapshot {
    pub revision: u64,
    pub compacted: u64,
    pub records: BTreeMap<String, KeyRecord>,
}

/// The request a snapshot sends after the head: the keys' names for a range, the key itself
/// for a single key.
enum FirstRead<L, K> {
    List(L),
    Key(K),
}

/// The keys' records in `[start, end)` (or the key `start`) at the head; with the compaction
/// point when `compaction` (a read of the latest revision needs none: 0 then).
pub(crate) async fn snapshot(
    inner: &Inner,
    start: &str,
    end: Option<&str>,
    compaction: bool,
) -> Result<Snapshot> {
    let client = inner.conn.client();
    let head_path = inner.layout.head();
    let compacted_path = inner.layout.compacted();
    let keys_dir = inner.layout.keys_dir();
    let sync = client.sync(&head_path);
    let first_head = client.get_data(&head_path);
    let compacted = compaction.then(|| client.get_data(&compacted_path));
    let first_read = match end {
        Some(_) => FirstRead::List(client.list_children(&keys_dir)),
        None => FirstRead::Key(client.get_data(&inner.layout.key(start))),
    };
    let compacted = async {
        match compacted {
            Some(request) => {
                let (data, _) = inner
                    .conn
                    .call("reading the compaction point", request)
                    .await?;
                decode_counter(&compacted_path, &data)
            }
            None => Ok(0),
        }
    };
    let (_, (first_head, _), compacted) = futures::try_join!(
        inner.conn.call("sync", sync),
        inner.conn.call("reading the head revision", first_head),
        compacted,
    )?;
    let first_head = decode_counter(&head_path, &first_head)?;

    let mut records = BTreeMap::new();
    let second_head = match first_read {
        FirstRead::Key(single) => {
            let second_head = client.get_data(&head_path);
            let path = inner.layout.key(start);
            if let Some((data, _)) = inner.conn.call_maybe("reading a key", single).await? {
                records.insert(start.to_owned(), decode::<KeyRecord>(&path, &data)?);
            }
            second_head
        }
        FirstRead::List(names) => {
            let names = inner.conn.call("listing keys", names).await?;
            let wanted: Vec<String> = names
                .iter()
                .filter_map(|name| unescape(name))
                .filter(|key| in_range(key, start, end))
                .collect();
            let reads = fetch::records::<KeyRecord>(
                inner,
                &client,
                wanted.iter().map(|key| inner.layout.key(key)),
                "reading a key",
            );
            let second_head = client.get_data(&head_path);
            for (key, record) in wanted.iter().zip(reads.await?) {
                if let Some(record) = record {
                    records.insert(key.clone(), record);
                }
            }
            second_head
        }
    };
    let (second_head, _) = inner
        .conn
        .call("reading the head revision", second_head)
        .await?;
    let second_head = decode_counter(&head_path, &second_head)?;
    if second_head > first_head {
        // Writes landed while the keys were read: bring every key they touched to how it
        // stood at the second head.
        for (_, entry) in log::read_all(inner, first_head + 1, second_head).await? {
            for event in entry.events {
                if in_range(&event.key, start, end) {
                    match event.put {
                        Some(put) => records.insert(event.key, put),
                        None => records.remove(&event.key),
                    };
                }
            }
        }
    }
    Ok(Snapshot {
        revision: second_head,
        compacted,
        records,
    })
}

/// Moves a snapshot back to `revision` by undoing the log entries after it.
pub(crate) async fn rewind(
    inner: &Inner,
    snapshot: &mut Snapshot,
    revision: u64,
    start: &str,
    end: Option<&str>,
) -> Result<()> {
    if revision >= snapshot.revision {
        return Ok(());
    }
    let entries = log::read_all(inner, revision + 1, snapshot.revision).await?;
    for (_, entry) in entries.into_iter().rev() {
        for event in entry.events.into_iter().rev() {
            if in_range(&event.key, start, end) {
                match event.prev {
                    Some(prev) => snapshot.records.insert(event.key, prev),
                    None => snapshot.records.remove(&event.key),
                };
            }
        }
    }
    Ok(())
}

/// Serves a range read.
pub(crate) async fn range(inner: &Inner, request: &RangeRequest) -> Result<RangeResponse> {
    let end = request.range_end.as_deref();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut snapshot = snapshot(inner, &request.key, end, request.revision != 0).await?;
        let at = request.read_revision(snapshot.revision, snapshot.compacted)?;
        rewind(inner, &mut snapshot, at, &request.key, end).await?;
        let mut more = false;
        let mut chosen: Vec<(String, KeyRecord)> = Vec::new();
        for (key, record) in std::mem::take(&mut snapshot.records) {
            if request.limit > 0 && chosen.len() == request.limit {
                more = true;
                break;
            }
            chosen.push((key, record));
        }
        let refs: Vec<_> = chosen.iter().map(|(_, r)| &r.value).collect();
        let loaded = values::read(inner, &refs).await?;
        if loaded.iter().any(Option::is_none) {
            // Compaction removed a value this read needed: at a past revision, the read may
            // now be too old; at the head, a retry reads the new state.
            if attempt < ATTEMPTS {
                continue;
            }
            return Err(Error::Gone {
                revision: at,
                compacted: log::head(inner).await?.1,
            });
        }
        let kvs: Vec<KeyValue> = chosen
            .iter()
            .zip(loaded)
            .map(|((key, record), value)| record.key_value(key, value.unwrap_or_default()))
            .collect();
        return Ok(RangeResponse {
            kvs,
            more,
            revision: snapshot.revision,
        });
    }
}
