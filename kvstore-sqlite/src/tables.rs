//! The statements: each function is one step of the storage contract on a connection inside a
//! transaction the caller opened (a read transaction sees one snapshot; a write transaction
//! holds the database's write lock from its start). Every statement reads through an index:
//! `EXPLAIN QUERY PLAN` of each is checked by the crate's tests (`tests/plans.rs`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kvstore_core::backend::KeyValue;
use kvstore_core::engine::rows::{self, Change, Version};
use kvstore_core::engine::{Append, Appended, Commit, Head, Snapshot, StoredLease, Touched};
use kvstore_core::{Error, LeaseId};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::error::Sql;

/// The head is the log's last revision (compaction always keeps it), so a commit writes no row
/// but its own: one page fewer per commit than a counter row would cost.
pub(crate) const HEAD: &str = "SELECT coalesce((SELECT max(revision) FROM kvstore_log), 0), \
     compacted FROM kvstore_meta WHERE id = 1";
pub(crate) const GET: &str =
    "SELECT key, value, create_revision, mod_revision, lease FROM kvstore_keys WHERE key = ?1";
pub(crate) const RANGE: &str = "SELECT key, value, create_revision, mod_revision, lease \
     FROM kvstore_keys WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3";
pub(crate) const LEASE_KEYS: &str = "SELECT key, value, create_revision, mod_revision, lease \
     FROM kvstore_keys WHERE lease = ?1 AND lease <> 0";
pub(crate) const LOG: &str = "SELECT revision, position, key, value, create_revision, lease, \
     prev_value, prev_create_revision, prev_mod_revision, prev_lease \
     FROM kvstore_log WHERE revision >= ?1 AND revision <= ?2 ORDER BY revision, position";
pub(crate) const INSERT_LOG: &str = "INSERT INTO kvstore_log (revision, position, key, value, \
     create_revision, lease, prev_value, prev_create_revision, prev_mod_revision, prev_lease) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
pub(crate) const PUT: &str = "INSERT INTO kvstore_keys (key, value, create_revision, \
     mod_revision, lease) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key) DO UPDATE SET \
     value = excluded.value, create_revision = excluded.create_revision, \
     mod_revision = excluded.mod_revision, lease = excluded.lease";
pub(crate) const DELETE: &str = "DELETE FROM kvstore_keys WHERE key = ?1";
pub(crate) const COMPACT_LOG: &str = "DELETE FROM kvstore_log WHERE revision < ?1";
pub(crate) const COMPACT_META: &str =
    "UPDATE kvstore_meta SET compacted = max(compacted, ?1) WHERE id = 1";
pub(crate) const LEASE: &str = "SELECT ttl_ms, renewed_ms FROM kvstore_leases WHERE id = ?1";
pub(crate) const LEASES: &str = "SELECT id, ttl_ms, renewed_ms FROM kvstore_leases";
pub(crate) const CREATE_LEASE: &str =
    "INSERT INTO kvstore_leases (ttl_ms, renewed_ms) VALUES (?1, ?2) RETURNING id";
pub(crate) const TOUCH_LEASE: &str = "UPDATE kvstore_leases SET renewed_ms = ?2 WHERE id = ?1";
pub(crate) const DELETE_LEASE: &str = "DELETE FROM kvstore_leases WHERE id = ?1";

/// Every statement that reads a table, for the query-plan test.
pub const READS: &[&str] = &[
    HEAD,
    GET,
    RANGE,
    LEASE_KEYS,
    LOG,
    DELETE,
    COMPACT_LOG,
    LEASE,
    TOUCH_LEASE,
    DELETE_LEASE,
];

pub(crate) fn head(conn: &Connection) -> Sql<Head> {
    let (revision, compacted) = conn
        .prepare_cached(HEAD)?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(Head {
        revision,
        compacted,
    })
}

fn key_value(row: &Row<'_>) -> rusqlite::Result<KeyValue> {
    let version = Version {
        value: Bytes::from(row.get::<_, Vec<u8>>(1)?),
        create_revision: row.get(2)?,
        mod_revision: row.get(3)?,
        lease: row.get(4)?,
    };
    Ok(version.key_value(row.get(0)?))
}

pub(crate) fn get(conn: &Connection, keys: &[String]) -> Sql<Snapshot> {
    let head = head(conn)?;
    let mut statement = conn.prepare_cached(GET)?;
    let mut kvs = Vec::with_capacity(keys.len());
    for key in keys {
        if let Some(kv) = statement.query_row([key], key_value).optional()? {
            kvs.push(kv);
        }
    }
    kvs.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(head.snapshot(kvs, false))
}

pub(crate) fn range(conn: &Connection, start: &str, end: &str, limit: usize) -> Sql<Snapshot> {
    let head = head(conn)?;
    let wanted = if limit == 0 { -1 } else { limit as i64 + 1 };
    let mut kvs = conn
        .prepare_cached(RANGE)?
        .query_map(params![start, end, wanted], key_value)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let more = limit > 0 && kvs.len() > limit;
    kvs.truncate(if limit == 0 { kvs.len() } else { limit });
    Ok(head.snapshot(kvs, more))
}

pub(crate) fn lease_keys(conn: &Connection, id: LeaseId) -> Sql<Option<Snapshot>> {
    let head = head(conn)?;
    if lease(conn, id)?.is_none() {
        return Ok(None);
    }
    let mut kvs = conn
        .prepare_cached(LEASE_KEYS)?
        .query_map([id.0], key_value)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    kvs.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Some(head.snapshot(kvs, false)))
}

fn change(row: &Row<'_>) -> rusqlite::Result<Change> {
    let revision: u64 = row.get(0)?;
    let after = match row.get::<_, Option<Vec<u8>>>(3)? {
        None => None,
        Some(bytes) => Some(Version {
            value: Bytes::from(bytes),
            create_revision: row.get(4)?,
            mod_revision: revision,
            lease: row.get(5)?,
        }),
    };
    let before = match row.get::<_, Option<Vec<u8>>>(6)? {
        None => None,
        Some(bytes) => Some(Version {
            value: Bytes::from(bytes),
            create_revision: row.get(7)?,
            mod_revision: row.get(8)?,
            lease: row.get(9)?,
        }),
    };
    Ok(Change {
        revision,
        position: row.get(1)?,
        key: row.get(2)?,
        after,
        before,
    })
}

pub(crate) fn log(conn: &Connection, from: u64, to: u64) -> Sql<Vec<Arc<Commit>>> {
    let head = head(conn)?;
    if from < head.compacted {
        return Err(Error::Gone {
            revision: from,
            compacted: head.compacted,
        }
        .into());
    }
    let changes = conn
        .prepare_cached(LOG)?
        .query_map(params![from, to], change)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows::commits(changes)?)
}

fn lease(conn: &Connection, id: LeaseId) -> Sql<Option<StoredLease>> {
    let found = conn
        .prepare_cached(LEASE)?
        .query_row([id.0], |row| {
            Ok(rows::lease(id.0, row.get(0)?, row.get(1)?))
        })
        .optional()?;
    Ok(found)
}

pub(crate) fn leases(conn: &Connection) -> Sql<Vec<StoredLease>> {
    let leases = conn
        .prepare_cached(LEASES)?
        .query_map([], |row| {
            Ok(rows::lease(row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(leases)
}

pub(crate) fn create_lease(conn: &Connection, ttl: Duration, now: Duration) -> Sql<StoredLease> {
    let id: i64 = conn
        .prepare_cached(CREATE_LEASE)?
        .query_row(params![rows::millis(ttl), rows::millis(now)], |row| {
            row.get(0)
        })?;
    Ok(rows::lease(id, rows::millis(ttl), rows::millis(now)))
}

pub(crate) fn touch_lease(conn: &Connection, id: LeaseId, now: Duration) -> Sql<Option<Touched>> {
    let Some(before) = lease(conn, id)? else {
        return Ok(None);
    };
    conn.prepare_cached(TOUCH_LEASE)?
        .execute(params![id.0, rows::millis(now)])?;
    Ok(Some(Touched {
        before,
        renewed: Duration::from_millis(rows::millis(now) as u64),
    }))
}

/// Writes `append` if its conditions hold at `now`, in a write transaction (which holds the
/// database's write lock: the head read here stays the head until it commits); the caller
/// commits only on `Done`.
pub(crate) fn append(conn: &Connection, append: &Append, now: Duration) -> Sql<Appended> {
    if head(conn)?.revision != append.head {
        return Ok(Appended::HeadMoved);
    }
    for id in &append.leases {
        match lease(conn, *id)? {
            Some(found) if !found.expired_at(now) => {}
            _ => return Ok(Appended::LeaseMissing(*id)),
        }
    }
    if let Some(revocation) = append.revocation {
        let Some(found) = lease(conn, revocation.lease)? else {
            return Ok(Appended::LeaseMissing(revocation.lease));
        };
        if revocation
            .renewed
            .is_some_and(|judged| judged != found.renewed)
        {
            return Ok(Appended::LeaseRenewed);
        }
        conn.prepare_cached(DELETE_LEASE)?
            .execute([revocation.lease.0])?;
    }
    let mut insert = conn.prepare_cached(INSERT_LOG)?;
    let mut put = conn.prepare_cached(PUT)?;
    let mut delete = conn.prepare_cached(DELETE)?;
    for commit in &append.commits {
        for change in Change::of(commit) {
            let after = change.after.as_ref();
            let before = change.before.as_ref();
            insert.execute(params![
                change.revision,
                change.position,
                change.key,
                after.map(|v| &v.value[..]),
                after.map(|v| v.create_revision),
                after.map(|v| v.lease),
                before.map(|v| &v.value[..]),
                before.map(|v| v.create_revision),
                before.map(|v| v.mod_revision),
                before.map(|v| v.lease),
            ])?;
            match after {
                Some(v) => put.execute(params![
                    change.key,
                    &v.value[..],
                    v.create_revision,
                    v.mod_revision,
                    v.lease
                ])?,
                None => delete.execute([&change.key])?,
            };
        }
    }
    Ok(Appended::Done)
}

pub(crate) fn compact(conn: &Connection, revision: u64) -> Sql<()> {
    conn.prepare_cached(COMPACT_LOG)?.execute([revision])?;
    conn.prepare_cached(COMPACT_META)?.execute([revision])?;
    Ok(())
}
