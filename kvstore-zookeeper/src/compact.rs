//! Compaction (the engine has checked the revision against the head): `compacted` moves first (from then on, reads and watches before it give
//! `Gone`), then the log entries before it are deleted with the values their events replaced
//! or deleted — those no read at or after the compaction point can see. Entries a previous,
//! interrupted compaction left are deleted too.

use futures::future::try_join_all;
use kvstore_core::{Error, Result};
use zookeeper_client as zk;

use crate::append::delete_chunks;
use crate::fetch;
use crate::inner::Inner;
use crate::layout::parse_log_name;
use crate::records::{decode_counter, encode_counter, LogEntry};
use crate::values::chunk_paths;

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
    for batch in old.chunks(BATCH) {
        let entries: Vec<Option<LogEntry>> = fetch::records(
            inner,
            &client,
            batch.iter().map(|r| inner.layout.log(*r)),
            "reading the log",
        )
        .await?;
        let mut garbage = Vec::new();
        for entry in entries.into_iter().flatten() {
            for event in entry.events {
                if let Some(prev) = event.prev {
                    garbage.extend(chunk_paths(inner, &prev.value));
                }
            }
        }
        // Entries first: a value is only deleted once no entry refers to it.
        let deletes = batch.iter().map(|r| {
            let request = client.delete(&inner.layout.log(*r), None);
            inner.conn.call_maybe("deleting a log entry", request)
        });
        try_join_all(deletes).await?;
        delete_chunks(inner, &garbage).await;
    }
    tracing::debug!(revision, entries = old.len(), "zookeeper: compacted");
    Ok(())
}
