//! Compaction (the engine has checked the revision against the head): `compacted` moves first (from then on, reads and watches before it give
//! `Gone`), then the log entries before it are deleted with the values their events replaced
//! or deleted — those no read at or after the compaction point can see. Entries a previous,
//! interrupted compaction left are deleted too. Last, the value znodes written for one of the
//! compacted revisions that its commit did not create — left by a write interrupted between
//! its values and its `multi` — are deleted (see `values`).

use std::collections::HashSet;

use futures::future::try_join_all;
use kvstore_core::{Error, Result};
use zookeeper_client as zk;

use crate::append::delete_chunks;
use crate::fetch;
use crate::inner::Inner;
use crate::layout::parse_log_name;
use crate::records::{decode_counter, encode_counter, LogEntry, ValueRef};
use crate::values::{chunk_paths, parse_value_name};

/// Entries deleted per round of requests.
const BATCH: usize = 256;

pub(crate) async fn compact(inner: &Inner, revision: u64) -> Result<()> {
    let path = inner.layout.compacted();
    loop {
        let client = inner.conn.client();
        let (data, stat) = inner
            .conn
            .call("reading the compaction point", client.get_data(&path))
            .await?;
        let compacted = decode_counter(&path, &data)?;
        if revision <= compacted {
            // Another client compacted past it meanwhile.
            return Err(Error::Gone {
                revision,
                compacted,
            });
        }
        let moved = inner
            .conn
            .call("moving the compaction point", async {
                match client
                    .set_data(&path, &encode_counter(revision), Some(stat.version))
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(zk::Error::BadVersion) => Ok(false),
                    Err(err) => Err(err),
                }
            })
            .await?;
        if moved {
            break;
        }
    }
    let client = inner.conn.client();
    let names = inner
        .conn
        .call(
            "listing the log",
            client.list_children(&inner.layout.log_dir()),
        )
        .await?;
    let mut old: Vec<u64> = names
        .iter()
        .filter_map(|n| parse_log_name(n))
        .filter(|r| *r < revision)
        .collect();
    old.sort_unstable();
    // Only the entries that refer to values in znodes are read; the others are deleted unread.
    let markers = inner
        .conn
        .call(
            "listing the log's markers",
            client.list_children(&inner.layout.valued_dir()),
        )
        .await?;
    let marked: HashSet<u64> = markers
        .iter()
        .filter_map(|n| parse_log_name(n))
        .filter(|r| *r < revision)
        .collect();
    // The revisions whose entries were read or need no reading, and the value ids their
    // commits created.
    let (mut covered, mut created) = (HashSet::new(), HashSet::new());
    for batch in old.chunks(BATCH) {
        let valued: Vec<u64> = batch
            .iter()
            .copied()
            .filter(|r| marked.contains(r))
            .collect();
        covered.extend(batch.iter().filter(|r| !marked.contains(r)));
        let entries: Vec<Option<LogEntry>> = fetch::records(
            inner,
            &client,
            valued.iter().map(|r| inner.layout.log(*r)),
            "reading the log",
        )
        .await?;
        let mut garbage = Vec::new();
        for (revision, entry) in valued.iter().zip(entries) {
            let Some(entry) = entry else { continue };
            covered.insert(*revision);
            for event in entry.events {
                if let Some(ValueRef::Znodes { id, .. }) = event.put.map(|put| put.value) {
                    created.insert(id);
                }
                if let Some(prev) = event.prev {
                    garbage.extend(chunk_paths(inner, &prev.value));
                }
            }
        }
        // Entries first: a value is only deleted once no entry refers to it.
        let entries: Vec<String> = batch.iter().map(|r| inner.layout.log(*r)).collect();
        delete_entries(inner, &client, &entries).await?;
        delete_chunks(inner, &garbage).await;
    }
    let marks: Vec<String> = marked.iter().map(|r| inner.layout.valued(*r)).collect();
    for batch in marks.chunks(BATCH) {
        delete_entries(inner, &client, batch).await?;
    }
    let orphans = orphans(inner, &covered, &created).await?;
    tracing::debug!(
        revision,
        entries = old.len(),
        orphans = orphans,
        "zookeeper: compacted"
    );
    Ok(())
}

/// Deletes log entries in one `multi` (one request, not one per entry: compaction runs beside
/// the writers and should cost the server little); when one is gone already (another client
/// compacting too), each on its own.
async fn delete_entries(inner: &Inner, client: &zk::Client, paths: &[String]) -> Result<()> {
    let mut multi = client.new_multi_writer();
    for path in paths {
        multi
            .add_delete(path, None)
            .map_err(|err| crate::error::map_error("deleting log entries", err))?;
    }
    let all_at_once = tokio::time::timeout(inner.conn.request_timeout(), multi.commit()).await;
    if let Ok(Ok(_)) = all_at_once {
        return Ok(());
    }
    let deletes = paths.iter().map(|path| {
        let request = client.delete(path, None);
        inner.conn.call_maybe("deleting a log entry", request)
    });
    try_join_all(deletes).await?;
    Ok(())
}

/// Deletes the value znodes written for a `covered` revision that its commit did not create
/// (not in `created`); how many.
async fn orphans(
    inner: &Inner,
    covered: &HashSet<u64>,
    created: &HashSet<String>,
) -> Result<usize> {
    if covered.is_empty() {
        return Ok(0);
    }
    let client = inner.conn.client();
    let names = inner
        .conn
        .call(
            "listing the values",
            client.list_children(&inner.layout.values_dir()),
        )
        .await?;
    let orphans: Vec<String> = names
        .iter()
        .filter(|name| {
            parse_value_name(name)
                .is_some_and(|(id, revision)| covered.contains(&revision) && !created.contains(id))
        })
        .map(|name| format!("{}/{name}", inner.layout.values_dir()))
        .collect();
    if !orphans.is_empty() {
        tracing::info!(
            count = orphans.len(),
            "zookeeper: deleting values of interrupted writes"
        );
        delete_chunks(inner, &orphans).await;
    }
    Ok(orphans.len())
}
