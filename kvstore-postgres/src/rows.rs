//! The server's rows as the engine's values: heads, keys, log changes; a value the store
//! cannot have written is a corrupt-store error, never a panic.

use bytes::Bytes;
use kvstore_core::backend::KeyValue;
use kvstore_core::engine::rows::{Change, Version};
use kvstore_core::engine::{Head, Snapshot};
use kvstore_core::Result;
use tokio_postgres::Row;

use crate::error::corrupt;

pub(crate) fn revision(row: &Row, column: usize) -> Result<u64> {
    let value: i64 = row
        .try_get(column)
        .map_err(|e| corrupt(format!("column {column}: {e}")))?;
    u64::try_from(value).map_err(|_| corrupt(format!("a negative revision {value}")))
}

/// A key as stored (bytes, in etcd's byte order), as the string it was written from.
pub(crate) fn text(key: Vec<u8>) -> Result<String> {
    String::from_utf8(key).map_err(|e| corrupt(format!("a key that is not UTF-8: {e}")))
}

pub(crate) fn head(row: &Row) -> Result<Head> {
    Ok(Head {
        revision: revision(row, 0)?,
        compacted: revision(row, 1)?,
    })
}

pub(crate) fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    column: usize,
) -> Result<T> {
    row.try_get(column)
        .map_err(|e| corrupt(format!("column {column}: {e}")))
}

/// The key of columns `2..7` (after the head's), if the row has one.
pub(crate) fn key_value(row: &Row) -> Result<Option<KeyValue>> {
    let Some(key) = get::<Option<Vec<u8>>>(row, 2)? else {
        return Ok(None);
    };
    let key = text(key)?;
    let version = Version {
        value: Bytes::from(get::<Vec<u8>>(row, 3)?),
        create_revision: revision(row, 4)?,
        mod_revision: revision(row, 5)?,
        lease: get(row, 6)?,
    };
    Ok(Some(version.key_value(key)))
}

/// The head (of the rows that have one) and the keys of the rows that have one, in key order.
pub(crate) fn snapshot(rows: &[Row], limit: usize) -> Result<Snapshot> {
    let mut head_row = None;
    let mut kvs = Vec::with_capacity(rows.len());
    for row in rows {
        if head_row.is_none() && get::<Option<i64>>(row, 0)?.is_some() {
            head_row = Some(row);
        }
        kvs.extend(key_value(row)?);
    }
    let head_row = head_row.ok_or_else(|| corrupt("kvstore_meta has no row".to_owned()))?;
    if !kvs.is_sorted_by(|a, b| a.key <= b.key) {
        kvs.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    }
    let more = limit > 0 && kvs.len() > limit;
    if more {
        kvs.truncate(limit);
    }
    Ok(head(head_row)?.snapshot(kvs, more))
}

fn optional_version(row: &Row, value: usize, mod_revision: Option<u64>) -> Result<Option<Version>> {
    let Some(bytes) = get::<Option<Vec<u8>>>(row, value)? else {
        return Ok(None);
    };
    let (mod_revision, lease) = match mod_revision {
        Some(revision) => (revision, get(row, value + 2)?),
        None => (revision(row, value + 2)?, get(row, value + 3)?),
    };
    Ok(Some(Version {
        value: Bytes::from(bytes),
        create_revision: revision(row, value + 1)?,
        mod_revision,
        lease,
    }))
}

/// A row of [`sql::LOG`]: the compaction point, then the log's columns (NULL when none).
pub(crate) fn change(row: &Row) -> Result<Option<Change>> {
    if get::<Option<i64>>(row, 1)?.is_none() {
        return Ok(None);
    }
    let revision = revision(row, 1)?;
    Ok(Some(Change {
        revision,
        position: get::<i32>(row, 2)?
            .try_into()
            .map_err(|_| corrupt("a negative position".to_owned()))?,
        key: text(get(row, 3)?)?,
        after: optional_version(row, 4, Some(revision))?,
        before: optional_version(row, 7, None)?,
    }))
}
