//! Reads of live keys at the head, exactly as they stood at one revision, from znodes read one
//! by one.
//!
//! The keys' znodes are read between two reads of the head revision (after a `sync`, so the
//! read is linearizable). When the head did not move, nothing changed in between and the
//! records are the head's. When it moved, the log entries in between say which keys changed
//! and how they stood at the second head, so the records are that head's. Values kept in
//! znodes of their own are read last; if compaction removed one meanwhile (the key changed
//! since), the read starts again.

use std::collections::BTreeMap;

use futures::future::try_join_all;
use futures::FutureExt;
use kvstore_core::backend::KeyValue;
use kvstore_core::engine::Snapshot;
use kvstore_core::{Error, Result};
use zookeeper_client as zk;

use crate::fetch;
use crate::inner::Inner;
use crate::layout::{dir_overlaps, parse_dir_name, unescape};
use crate::records::{decode, decode_counter, read_counter, KeyRecord};
use crate::{log, values};

/// How many times a read starts again when values it needs were compacted under it.
const ATTEMPTS: usize = 5;

/// Which keys a read wants.
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    /// These keys.
    Keys(&'a [String]),
    /// These keys, read without a `sync` first: as the server answering has them (see
    /// `Storage::get_possibly_stale`).
    KeysUnsynced(&'a [String]),
    /// The keys in `[start, end)`.
    Range(&'a str, &'a str),
    /// The keys attached to a lease, listed in `leases/<id>`.
    Lease(i64),
}

impl Target<'_> {
    fn wants(&self, key: &str) -> bool {
        match self {
            Target::Keys(keys) | Target::KeysUnsynced(keys) => keys.iter().any(|k| k == key),
            Target::Range(start, end) => key >= *start && key < *end,
            // Attachments change with the keys; a key read is checked for the lease after.
            Target::Lease(_) => true,
        }
    }
}

/// The records of the live keys `target` names at the head.
pub(crate) struct Records {
    pub revision: u64,
    pub compacted: u64,
    pub records: BTreeMap<String, KeyRecord>,
    /// For a range read with a limit: the first key past the page (the records are those
    /// before it); more keys follow.
    pub cutoff: Option<String>,
}

/// Reads the live keys `target` names (at most `limit`; 0: all) with their values, at the head.
/// `None` when the target is a lease that does not exist.
pub(crate) async fn read(
    inner: &Inner,
    target: Target<'_>,
    limit: usize,
) -> Result<Option<Snapshot>> {
    for _ in 0..ATTEMPTS {
        let Some(mut found) = records(inner, target, limit).await? else {
            return Ok(None);
        };
        if let Target::Lease(id) = target {
            found.records.retain(|_, record| record.lease == Some(id));
        }
        let take = if limit == 0 { usize::MAX } else { limit };
        if found.records.is_empty() && found.cutoff.is_some() {
            // Every key of the page was deleted while it was read: read it again.
            continue;
        }
        let more = found.records.len() > take || found.cutoff.is_some();
        let chosen: Vec<(String, KeyRecord)> = found.records.into_iter().take(take).collect();
        let refs: Vec<_> = chosen.iter().map(|(_, r)| &r.value).collect();
        let loaded = values::read(inner, &refs).await?;
        if loaded.iter().any(Option::is_none) {
            continue;
        }
        let kvs: Vec<KeyValue> = chosen
            .iter()
            .zip(loaded)
            .map(|((key, record), value)| {
                inner.remember(key, record.modified, &record.value);
                record.key_value(key, value.unwrap_or_default())
            })
            .collect();
        return Ok(Some(Snapshot {
            revision: found.revision,
            compacted: found.compacted,
            kvs,
            more,
        }));
    }
    Err(Error::Unavailable {
        message: format!(
            "zookeeper: the keys read changed and were compacted {ATTEMPTS} times in a row"
        ),
        source: None,
    })
}

/// Records read between two reads of the head.
struct Bracketed {
    first_head: u64,
    second_head: u64,
    compacted: u64,
    records: BTreeMap<String, KeyRecord>,
    /// See [`Records::cutoff`].
    cutoff: Option<String>,
}

/// The live keys that may be in `[start, end)`: the children of the directory znodes that can
/// hold such keys — the range's own directories and their ancestors, not the whole store.
async fn range_keys(
    inner: &Inner,
    client: &zk::Client,
    start: &str,
    end: &str,
) -> Result<Option<Vec<String>>> {
    let names = inner
        .conn
        .call(
            "listing key directories",
            client.list_children(&inner.layout.keys_dir()),
        )
        .await?;
    let dirs: Vec<String> = names
        .iter()
        .filter_map(|name| parse_dir_name(name))
        .filter(|dir| dir_overlaps(dir, start, end))
        .collect();
    let listings = dirs.iter().map(|dir| {
        let request = client.list_children(&inner.layout.key_dir(dir));
        inner.conn.call_maybe("listing keys", request)
    });
    let listed = try_join_all(listings).await?;
    let mut keys = Vec::new();
    for (dir, names) in dirs.iter().zip(listed) {
        let names = names.unwrap_or_default();
        keys.extend(
            names
                .iter()
                .filter_map(|name| unescape(name))
                .map(|name| format!("{dir}/{name}")),
        );
    }
    Ok(Some(keys))
}

/// The keys attached to lease `id`; `None` when it does not exist.
async fn lease_keys(inner: &Inner, client: &zk::Client, id: i64) -> Result<Option<Vec<String>>> {
    let request = client.list_children(&inner.layout.lease(id));
    let names = inner.conn.call_maybe("listing keys", request).await?;
    Ok(names.map(|names| names.iter().filter_map(|name| unescape(name)).collect()))
}

/// The records of the keys `target` names (for a range, the first `limit` of them; 0: all),
/// between two reads of the head; `None` for a lease that does not exist.
async fn records(inner: &Inner, target: Target<'_>, limit: usize) -> Result<Option<Records>> {
    let read = match target {
        Target::Keys(keys) if keys.len() <= fetch::KEYS_TOGETHER => {
            Some(few_keys(inner, keys, true).await?)
        }
        Target::KeysUnsynced(keys) if keys.len() <= fetch::KEYS_TOGETHER => {
            Some(few_keys(inner, keys, false).await?)
        }
        _ => listed(inner, target, limit).await?,
    };
    let Some(Bracketed {
        first_head,
        second_head,
        compacted,
        mut records,
        cutoff,
    }) = read
    else {
        return Ok(None);
    };
    if second_head > first_head {
        // Writes landed while the keys were read: bring every key they touched to how it
        // stood at the second head.
        for (_, entry) in log::read_resolved(inner, first_head + 1, second_head).await? {
            for event in entry.events {
                let in_page = cutoff.as_ref().is_none_or(|cutoff| event.key < *cutoff);
                if target.wants(&event.key) && in_page {
                    match event.put {
                        Some(put) => records.insert(event.key, put),
                        None => records.remove(&event.key),
                    };
                }
            }
        }
    }
    inner.learn_head(second_head);
    Ok(Some(Records {
        revision: second_head,
        compacted,
        records,
        cutoff,
    }))
}

/// A few keys: a `sync` (when `synced`), then one `multiRead` of the head, the compaction
/// point, the keys' records and the head again — two requests in one round trip, as a raw
/// linearizable read of one znode sends. ZooKeeper answers a `multiRead` from one state, so
/// the heads agree; the second one costs nothing and keeps the read exact even where they
/// would not.
async fn few_keys(inner: &Inner, keys: &[String], synced: bool) -> Result<Bracketed> {
    let client = inner.conn.client();
    let head_path = inner.layout.head();
    let mut paths = Vec::with_capacity(keys.len() + 3);
    paths.push(head_path.clone());
    paths.push(inner.layout.compacted());
    paths.extend(keys.iter().map(|key| inner.layout.key(key)));
    paths.push(head_path);
    let sync = synced.then(|| client.sync(&paths[0]));
    let read = fetch::together(inner, &client, &paths, "reading keys");
    let mut answers = match sync {
        Some(sync) => futures::try_join!(inner.conn.call("sync", sync), read)?.1,
        None => read.await?,
    };
    let second_head = read_counter(&paths[0], answers.pop().flatten())?;
    let mut answers = answers.into_iter();
    let first_head = read_counter(&paths[0], answers.next().flatten())?;
    let compacted = read_counter(&paths[1], answers.next().flatten())?;
    let mut records = BTreeMap::new();
    for ((key, path), answer) in keys.iter().zip(&paths[2..]).zip(answers) {
        if let Some(bytes) = answer {
            records.insert(key.clone(), decode::<KeyRecord>(path, &bytes)?);
        }
    }
    Ok(Bracketed {
        first_head,
        second_head,
        compacted,
        records,
        cutoff: None,
    })
}

/// Many keys, a range or a lease's keys: the head and the compaction point (after a `sync`)
/// while the keys are listed, then each key's record and the head again, one request each.
/// `None` for a lease that does not exist.
async fn listed(inner: &Inner, target: Target<'_>, limit: usize) -> Result<Option<Bracketed>> {
    let client = inner.conn.client();
    let head_path = inner.layout.head();
    let compacted_path = inner.layout.compacted();
    let sync = client.sync(&head_path);
    let first_head = client.get_data(&head_path);
    let compacted = client.get_data(&compacted_path);
    let listing = match target {
        // Many keys are always read after a `sync`.
        Target::Keys(keys) | Target::KeysUnsynced(keys) => {
            futures::future::ready(Ok(Some(keys.to_vec()))).boxed()
        }
        Target::Range(start, end) => range_keys(inner, &client, start, end).boxed(),
        Target::Lease(id) => lease_keys(inner, &client, id).boxed(),
    };
    let (_, (first_head, _), (compacted, _)) = futures::try_join!(
        inner.conn.call("sync", sync),
        inner.conn.call("reading the head revision", first_head),
        inner.conn.call("reading the compaction point", compacted),
    )?;
    let first_head = decode_counter(&head_path, &first_head)?;
    let compacted = decode_counter(&compacted_path, &compacted)?;
    let Some(keys) = listing.await? else {
        return Ok(None);
    };
    let mut wanted: Vec<String> = keys.into_iter().filter(|key| target.wants(key)).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut cutoff = None;
    if matches!(target, Target::Range(..)) && limit > 0 && wanted.len() > limit {
        // Only the page's records are read: memory bounded by the page, not the range.
        cutoff = Some(wanted[limit].clone());
        wanted.truncate(limit);
    }
    let reads = fetch::records::<KeyRecord>(
        inner,
        &client,
        wanted.iter().map(|key| inner.layout.key(key)),
        "reading a key",
    );
    let second_head = client.get_data(&head_path);
    let mut records = BTreeMap::new();
    for (key, record) in wanted.iter().zip(reads.await?) {
        if let Some(record) = record {
            records.insert(key.clone(), record);
        }
    }
    let (second_head, _) = inner
        .conn
        .call("reading the head revision", second_head)
        .await?;
    Ok(Some(Bracketed {
        first_head,
        second_head: decode_counter(&head_path, &second_head)?,
        compacted,
        records,
        cutoff,
    }))
}
