//! The engine's conditional append as one ZooKeeper `multi`: create `log/R+1`, `log/R+2`, … (one
//! per commit), set `head`, check the leases keys are attached to, create the new values,
//! create / set / delete each changed key's znode once, update lease attachments, and delete
//! a revoked lease at the version judged expired. ZooKeeper runs a `multi` all or nothing, and
//! creating `log/R+1` fails if another client committed R+1 first: then nothing was written
//! and the engine decides again. So the log is dense and every commit has a revision of its
//! own.
//!
//! Values up to 4 KiB are kept in the key's record, so a get reads one znode; larger ones in
//! znodes of their own. A log entry keeps a small value once: as the previous state of the
//! change that replaced it (its put refers to the key's record, [`ValueRef::Record`]), so a
//! small write stores its value twice at most — in the key's record and, once replaced, in the
//! log. A commit whose values pass 64 KiB in all writes every value to its znodes first, in
//! requests of their own, so that the `multi` carries only records (a request must stay under
//! ZooKeeper's `jute.maxbuffer`, 1 MiB); an append whose `multi` would still pass 960 KiB is
//! handed back to the engine to split, and a single commit that would still pass it fails with
//! `InvalidArgument`, nothing written.
//!
//! A log entry records the state each change replaced by reference (its value's znodes are
//! deleted when compaction passes the entry); the storage remembers where the values of the
//! keys it read live, and reads a key's record only when it does not.

use std::collections::BTreeMap;

use futures::future::try_join_all;
use kvstore_core::backend::{EventType, KeyValue};
use kvstore_core::engine::{Append, Appended};
use kvstore_core::{Error, LeaseId, Result};
use zookeeper_client as zk;

use crate::error::{map_error, write_failed};
use crate::fetch;
use crate::inner::Inner;
use crate::layout::split_key;
use crate::records::{encode, encode_counter, KeyRecord, LogEntry, LoggedEvent, ValueRef};
use crate::values::{self, NewValue};

/// A commit whose values add up to more than this writes them ahead, to znodes.
const SMALL_COMMIT: usize = 64 * 1024;

/// The most a `multi` may carry (ZooKeeper's `jute.maxbuffer` is 1 MiB - 1 by default, and
/// bounds a whole request).
const MULTI_BYTES: usize = 960 * 1024;

/// A commit's new values (one per event; `None` for a delete), and whether they are written
/// ahead of the `multi`: in the records when the commit's values are small in all.
struct CommitValues {
    ahead: bool,
    made: Vec<Option<NewValue>>,
}

impl CommitValues {
    fn new(inner: &Inner, commit: &kvstore_core::engine::Commit) -> CommitValues {
        let total: usize = commit.events.iter().map(|e| e.kv.value.len()).sum();
        let small = total <= SMALL_COMMIT;
        let made = commit.events.iter().map(|event| {
            (event.kind != EventType::Deleted)
                .then(|| NewValue::new(inner, &event.kv.value, small, commit.revision))
        });
        CommitValues {
            ahead: !small,
            made: made.collect(),
        }
    }
}

/// What an operation of the `multi` is, for reading its failure.
#[derive(Clone, Copy)]
enum Role {
    FirstEntry,
    /// The creation of a key the engine presumed absent (`Append::presumed_absent`).
    Presumed,
    LeaseCheck(LeaseId),
    Attach(LeaseId),
    Revoke(LeaseId),
    Other,
}

/// A `multi` being built, with the role of each operation and its size.
struct Multi<'a> {
    writer: zk::MultiWriter<'a>,
    /// How new znodes are created (their ACLs).
    options: zk::CreateOptions<'a>,
    roles: Vec<Role>,
    bytes: usize,
}

impl Multi<'_> {
    fn add(
        &mut self,
        role: Role,
        path: &str,
        data: usize,
        added: std::result::Result<(), zk::Error>,
    ) -> Result<()> {
        added.map_err(|err| map_error("building a transaction", err))?;
        self.roles.push(role);
        self.bytes += path.len() + data + 32;
        Ok(())
    }
    fn create(&mut self, role: Role, path: &str, data: &[u8]) -> Result<()> {
        let added = self.writer.add_create(path, data, &self.options);
        self.add(role, path, data.len(), added)
    }
    fn set(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let added = self.writer.add_set_data(path, data, None);
        self.add(Role::Other, path, data.len(), added)
    }
    fn delete(&mut self, role: Role, path: &str, version: Option<i32>) -> Result<()> {
        let added = self.writer.add_delete(path, version);
        self.add(role, path, 0, added)
    }
}

/// Writes `append` if its conditions hold.
pub(crate) async fn append(inner: &Inner, append: &Append) -> Result<Appended> {
    let revoked = match append.revocation {
        Some(revocation) => match lease_version(inner, revocation.lease, revocation.renewed).await?
        {
            Ok(found) => Some(found),
            Err(refused) => return Ok(refused),
        },
        None => None,
    };
    let Some(before) = states_before(inner, append).await? else {
        return Ok(Appended::HeadMoved);
    };
    let new_values: Vec<CommitValues> = append
        .commits
        .iter()
        .map(|commit| CommitValues::new(inner, commit))
        .collect();
    let ahead: Vec<&NewValue> = new_values
        .iter()
        .filter(|values| values.ahead)
        .flat_map(|values| values.made.iter().flatten())
        .collect();
    let client = inner.conn.client();
    let mut multi = Multi {
        writer: client.new_multi_writer(),
        options: inner.create_options(),
        roles: Vec::new(),
        bytes: 0,
    };
    let after = build(inner, &mut multi, append, &before, &new_values, revoked)?;
    if multi.bytes > MULTI_BYTES {
        return Ok(Appended::TooLarge);
    }
    let ahead_paths: Vec<String> = ahead
        .iter()
        .flat_map(|v| v.chunks.iter().map(|(path, _)| path.clone()))
        .collect();
    let created = after
        .iter()
        .filter(|(key, record)| record.is_some() && before.get(*key).is_none_or(Option::is_none))
        .map(|(key, _)| split_key(key).0);
    create_dirs(inner, &inner.unknown_dirs(created)).await?;
    write_ahead(inner, &ahead).await?;
    inner.conn.connected().await?;
    let outcome = commit(inner, multi, append).await;
    if let Err(Error::Backend { .. }) = &outcome {
        inner.know_dir(None);
    }
    match &outcome {
        Ok(Appended::Done) => {
            for (key, state) in &before {
                if let Some(record) = state {
                    inner.forget(key, record.modified);
                }
            }
            for (key, record) in after.iter().filter_map(|(k, r)| Some((k, r.as_ref()?))) {
                inner.remember(key, record.modified, &record.value);
            }
        }
        // Perhaps written: keep the values (at worst, garbage).
        Err(err) if err.is_ambiguous() => {}
        _ => delete_chunks(inner, &ahead_paths).await,
    }
    outcome
}

/// The version of a lease's znode to delete it at: `Err` with the answer when it is gone or
/// was renewed since its term was judged over (`renewed`, the leader's clock).
async fn lease_version(
    inner: &Inner,
    lease: LeaseId,
    renewed: Option<std::time::Duration>,
) -> Result<std::result::Result<(LeaseId, Option<i32>), Appended>> {
    let Some(renewed) = renewed else {
        return Ok(Ok((lease, None)));
    };
    let client = inner.conn.client();
    let path = inner.layout.lease(lease.0);
    match inner
        .conn
        .call_maybe("reading a lease", client.get_data(&path))
        .await?
    {
        None => Ok(Err(Appended::LeaseMissing(lease))),
        Some((_, stat)) if stat.mtime as u128 != renewed.as_millis() => {
            Ok(Err(Appended::LeaseRenewed))
        }
        Some((_, stat)) => Ok(Ok((lease, Some(stat.version)))),
    }
}

/// Each changed key's record before the append, with where its value lives; `None` when a key
/// changed since the engine read it (the head moved).
async fn states_before(
    inner: &Inner,
    append: &Append,
) -> Result<Option<BTreeMap<String, Option<KeyRecord>>>> {
    let mut before: BTreeMap<String, Option<KeyRecord>> = BTreeMap::new();
    let mut unknown: Vec<KeyValue> = Vec::new();
    for event in append.commits.iter().flat_map(|c| &c.events) {
        if before.contains_key(&event.kv.key) || unknown.iter().any(|kv| kv.key == event.kv.key) {
            continue;
        }
        let Some(prev) = &event.prev_kv else {
            before.insert(event.kv.key.clone(), None);
            continue;
        };
        match inner.recall(&prev.key, prev.mod_revision) {
            Some(place) => {
                let value = place.unwrap_or_else(|| values::inline(&prev.value));
                before.insert(prev.key.clone(), Some(record_of(prev, value)));
            }
            None => unknown.push(prev.clone()),
        }
    }
    if !unknown.is_empty() {
        let client = inner.conn.client();
        let paths = unknown.iter().map(|kv| inner.layout.key(&kv.key));
        let records: Vec<Option<KeyRecord>> =
            fetch::records(inner, &client, paths, "reading a key").await?;
        for (prev, record) in unknown.iter().zip(records) {
            match record {
                Some(record) if record.modified == prev.mod_revision => {
                    before.insert(prev.key.clone(), Some(record));
                }
                _ => return Ok(None),
            }
        }
    }
    Ok(Some(before))
}

fn record_of(kv: &KeyValue, value: ValueRef) -> KeyRecord {
    KeyRecord {
        create: kv.create_revision,
        modified: kv.mod_revision,
        lease: kv.lease.map(|l| l.0),
        value,
    }
}

/// Adds every operation of `append` to `multi`; returns each changed key's record after it.
fn build(
    inner: &Inner,
    multi: &mut Multi<'_>,
    append: &Append,
    before: &BTreeMap<String, Option<KeyRecord>>,
    new_values: &[CommitValues],
    revoked: Option<(LeaseId, Option<i32>)>,
) -> Result<BTreeMap<String, Option<KeyRecord>>> {
    let mut state = before.clone();
    let mut inline_chunks: Vec<&NewValue> = Vec::new();
    for (n, (commit, values)) in append.commits.iter().zip(new_values).enumerate() {
        if !values.ahead {
            inline_chunks.extend(values.made.iter().flatten());
        }
        let mut events = Vec::with_capacity(commit.events.len());
        for (event, value) in commit.events.iter().zip(&values.made) {
            let prev = state.get(&event.kv.key).cloned().flatten();
            let put = value
                .as_ref()
                .map(|value| record_of(&event.kv, value.reference.clone()));
            events.push(LoggedEvent {
                key: event.kv.key.clone(),
                put: put.as_ref().map(KeyRecord::logged),
                prev,
            });
            state.insert(event.kv.key.clone(), put);
        }
        let role = if n == 0 {
            Role::FirstEntry
        } else {
            Role::Other
        };
        let valued = events.iter().any(LoggedEvent::refers_to_znodes);
        multi.create(
            role,
            &inner.layout.log(commit.revision),
            &encode(&LogEntry { events }),
        )?;
        if valued {
            // Compaction reads only the entries so marked (the others hold no value to delete).
            multi.create(Role::Other, &inner.layout.valued(commit.revision), &[])?;
        }
    }
    if let Some(last) = append.commits.last() {
        multi.set(&inner.layout.head(), &encode_counter(last.revision))?;
    }
    for lease in &append.leases {
        let added = multi
            .writer
            .add_check_version(&inner.layout.lease(lease.0), -1);
        multi.add(Role::LeaseCheck(*lease), "", 0, added)?;
    }
    for value in inline_chunks {
        for (path, bytes) in &value.chunks {
            multi.create(Role::Other, path, bytes)?;
        }
    }
    for (key, after) in &state {
        let before = before.get(key).cloned().flatten();
        let path = inner.layout.key(key);
        match (&before, after) {
            (Some(_), Some(record)) => multi.set(&path, &encode(record))?,
            (None, Some(record)) => {
                let presumed = append.presumed_absent.iter().any(|k| k == key);
                let role = if presumed {
                    Role::Presumed
                } else {
                    Role::Other
                };
                multi.create(role, &path, &encode(record))?
            }
            (Some(_), None) => multi.delete(Role::Other, &path, None)?,
            (None, None) => {}
        }
        let old_lease = before.as_ref().and_then(|r| r.lease);
        let new_lease = after.as_ref().and_then(|r| r.lease);
        if old_lease != new_lease {
            if let Some(old) = old_lease {
                multi.delete(Role::Other, &inner.layout.lease_key(old, key), None)?;
            }
            if let Some(new) = new_lease {
                let role = Role::Attach(LeaseId(new));
                multi.create(role, &inner.layout.lease_key(new, key), &[])?;
            }
        }
    }
    if let Some((lease, version)) = revoked {
        multi.delete(Role::Revoke(lease), &inner.layout.lease(lease.0), version)?;
    }
    Ok(state)
}

/// Commits the `multi`, reading a failed operation as the condition that did not hold.
async fn commit(inner: &Inner, multi: Multi<'_>, append: &Append) -> Result<Appended> {
    let Multi {
        mut writer, roles, ..
    } = multi;
    let answer = tokio::time::timeout(inner.conn.request_timeout(), writer.commit()).await;
    let failed = match answer {
        Ok(Ok(_)) => return Ok(Appended::Done),
        Ok(Err(zk::MultiWriteError::OperationFailed { index, source })) => (index, source),
        Ok(Err(zk::MultiWriteError::RequestFailed { source })) => {
            inner.conn.after_error(&source).await;
            return Err(write_failed(source));
        }
        Err(_) => {
            return Err(Error::Ambiguous {
                message: format!(
                    "zookeeper: committing a write: no answer within {:?}; the write may or may not have been applied",
                    inner.conn.request_timeout()
                ),
                source: None,
            })
        }
    };
    let (index, source) = failed;
    let role = roles.get(index).copied().unwrap_or(Role::Other);
    Ok(match (role, source) {
        (Role::FirstEntry, zk::Error::NodeExists) => Appended::HeadMoved,
        // The key presumed absent exists: the engine reads it and decides again.
        (Role::Presumed, zk::Error::NodeExists) => Appended::HeadMoved,
        (Role::LeaseCheck(lease) | Role::Attach(lease), zk::Error::NoNode) => {
            Appended::LeaseMissing(lease)
        }
        (Role::Revoke(lease), zk::Error::NoNode) => Appended::LeaseMissing(lease),
        (Role::Revoke(_), zk::Error::BadVersion) => Appended::LeaseRenewed,
        // A key was attached to the lease since its keys were read.
        (Role::Revoke(_), zk::Error::NotEmpty) => Appended::HeadMoved,
        // Without a log entry first (a revocation of a lease with no key), a key that changed
        // since it was read shows here.
        (Role::Other, zk::Error::NoNode | zk::Error::NodeExists) if append.commits.is_empty() => {
            Appended::HeadMoved
        }
        (_, source) => {
            return Err(Error::Backend {
                message: format!(
                    "zookeeper: operation {index} of the write after revision {} failed: {source} (were the store's znodes under {} changed by hand?)",
                    append.head,
                    inner.layout.root()
                ),
                source: Some(Box::new(source)),
            });
        }
    })
}

/// Creates the key directory znodes `dirs` (see `layout`), all requests sent at once; one that
/// exists already is fine. Directories are never deleted, so one that exists stays.
async fn create_dirs(inner: &Inner, dirs: &[String]) -> Result<()> {
    if dirs.is_empty() {
        return Ok(());
    }
    let client = inner.conn.client();
    let options = inner.create_options();
    let requests = dirs.iter().map(|dir| {
        let path = inner.layout.key_dir(dir);
        let client = &client;
        let options = &options;
        inner.conn.call("creating a key directory", async move {
            match client.create(&path, &[], options).await {
                Ok(_) | Err(zk::Error::NodeExists) => Ok(()),
                Err(err) => Err(err),
            }
        })
    });
    try_join_all(requests).await?;
    for dir in dirs {
        inner.know_dir(Some(dir.clone()));
    }
    Ok(())
}

/// Creates the znodes of values written ahead, each in a request of its own.
async fn write_ahead(inner: &Inner, values: &[&NewValue]) -> Result<()> {
    let client = inner.conn.client();
    let options = inner.create_options();
    let requests = values
        .iter()
        .flat_map(|value| &value.chunks)
        .map(|(path, bytes)| {
            let request = client.create(path, bytes, &options);
            inner.conn.call("writing a value", request)
        });
    try_join_all(requests).await?;
    Ok(())
}

/// Deletes znodes, best effort (what is left is garbage, not state).
pub(crate) async fn delete_chunks(inner: &Inner, paths: &[String]) {
    let client = inner.conn.client();
    let requests = paths.iter().map(|path| {
        let request = client.delete(path, None);
        inner.conn.call_maybe("deleting a value", request)
    });
    if let Err(err) = try_join_all(requests).await {
        tracing::debug!(%err, "zookeeper: a value's znodes were left behind");
    }
}
