//! The store's state and the transitions the engine asks of it, under one lock: the live keys,
//! the log of commits back to the compaction point, and the leases with the keys attached.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use kvstore_core::backend::{EventType, KeyValue};
use kvstore_core::engine::{Append, Appended, Commit, Head, Snapshot, StoredLease};
use kvstore_core::{Error, LeaseId, Result};

/// A live key's value and revisions (the key is the map's: stored once).
#[derive(Debug)]
pub(crate) struct Stored {
    value: bytes::Bytes,
    create_revision: u64,
    mod_revision: u64,
    lease: Option<LeaseId>,
}

impl Stored {
    fn of(kv: &KeyValue) -> Stored {
        Stored {
            value: kv.value.clone(),
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            lease: kv.lease,
        }
    }

    fn key_value(&self, key: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: self.value.clone(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            lease: self.lease,
        }
    }
}

#[derive(Debug)]
struct LeaseEntry {
    lease: StoredLease,
    keys: BTreeSet<String>,
}

/// Keys, log and leases, with the head revision.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The revision of the last commit.
    pub head: u64,
    /// Commits before this revision are gone.
    pub compacted: u64,
    pub keys: BTreeMap<String, Stored>,
    /// Every commit from the compaction point on: one per revision, so revision `r` is at
    /// `r - first revision`.
    log: VecDeque<Arc<Commit>>,
    leases: HashMap<LeaseId, LeaseEntry>,
    last_lease: i64,
}

impl State {
    fn snapshot(&self, kvs: Vec<KeyValue>, more: bool) -> Snapshot {
        let head = Head {
            revision: self.head,
            compacted: self.compacted,
        };
        head.snapshot(kvs, more)
    }

    pub fn get(&self, keys: &[String]) -> Snapshot {
        let kvs = keys
            .iter()
            .filter_map(|k| Some(self.keys.get(k)?.key_value(k)))
            .collect();
        self.snapshot(kvs, false)
    }

    pub fn range(&self, start: &str, end: &str, limit: usize) -> Snapshot {
        if start >= end {
            return self.snapshot(Vec::new(), false);
        }
        let bounds = (Bound::Included(start), Bound::Excluded(end));
        let mut found = self
            .keys
            .range::<str, _>(bounds)
            .map(|(key, stored)| stored.key_value(key));
        let take = if limit == 0 { usize::MAX } else { limit };
        let kvs: Vec<KeyValue> = found.by_ref().take(take).collect();
        let more = found.next().is_some();
        self.snapshot(kvs, more)
    }

    /// Writes `append` if its conditions hold at `now`.
    pub fn append(&mut self, append: &Append, now: Duration) -> Appended {
        if append.head != self.head {
            return Appended::HeadMoved;
        }
        for id in &append.leases {
            match self.leases.get(id) {
                Some(entry) if !entry.lease.expired_at(now) => {}
                _ => return Appended::LeaseMissing(*id),
            }
        }
        if let Some(revocation) = append.revocation {
            match self.leases.get(&revocation.lease) {
                None => return Appended::LeaseMissing(revocation.lease),
                Some(entry) if revocation.renewed.is_some_and(|r| r != entry.lease.renewed) => {
                    return Appended::LeaseRenewed
                }
                Some(_) => {}
            }
            self.leases.remove(&revocation.lease);
        }
        for commit in &append.commits {
            for event in &commit.events {
                self.apply(event.kind, &event.kv, event.prev_kv.as_ref());
            }
            self.head = commit.revision;
            self.log.push_back(Arc::clone(commit));
        }
        Appended::Done
    }

    fn apply(&mut self, kind: EventType, kv: &KeyValue, previous: Option<&KeyValue>) {
        let lease_of = |kv: Option<&KeyValue>| kv.and_then(|kv| kv.lease);
        if let Some(old) = lease_of(previous) {
            if let Some(entry) = self.leases.get_mut(&old) {
                entry.keys.remove(&kv.key);
            }
        }
        if kind == EventType::Deleted {
            self.keys.remove(&kv.key);
            return;
        }
        if let Some(new) = kv.lease {
            if let Some(entry) = self.leases.get_mut(&new) {
                entry.keys.insert(kv.key.clone());
            }
        }
        match self.keys.get_mut(&kv.key) {
            Some(current) => *current = Stored::of(kv),
            None => {
                self.keys.insert(kv.key.clone(), Stored::of(kv));
            }
        }
    }

    /// The commits of `from..=to`.
    pub fn log(&self, from: u64, to: u64) -> Result<Vec<Arc<Commit>>> {
        if from < self.compacted {
            return Err(Error::Gone {
                revision: from,
                compacted: self.compacted,
            });
        }
        let first = self.log.front().map_or(self.head + 1, |c| c.revision);
        let start = from.saturating_sub(first) as usize;
        let end = (to.min(self.head) + 1).saturating_sub(first) as usize;
        Ok(self.log.range(start..end.max(start)).cloned().collect())
    }

    /// Drops the commits before `revision`.
    pub fn compact(&mut self, revision: u64) {
        if revision <= self.compacted {
            return;
        }
        // One commit per revision: revision `r` is at `r - first` (no search through the log,
        // whose commits are behind pointers).
        let first = self.log.front().map_or(revision, |c| c.revision);
        let end = (revision.saturating_sub(first) as usize).min(self.log.len());
        self.log.drain(..end);
        self.compacted = revision;
    }

    /// Keeps at most `retained` revisions of history.
    pub fn trim(&mut self, retained: u64) {
        self.compact(self.head.saturating_sub(retained));
    }

    pub fn create_lease(&mut self, ttl: Duration, now: Duration) -> StoredLease {
        self.last_lease += 1;
        let lease = StoredLease {
            id: LeaseId(self.last_lease),
            ttl,
            renewed: now,
        };
        let keys = BTreeSet::new();
        self.leases.insert(lease.id, LeaseEntry { lease, keys });
        lease
    }

    /// Begins a new term at `now`; the lease before.
    pub fn touch_lease(&mut self, id: LeaseId, now: Duration) -> Option<StoredLease> {
        let entry = self.leases.get_mut(&id)?;
        let before = entry.lease;
        entry.lease.renewed = now;
        Some(before)
    }

    pub fn leases(&self) -> Vec<StoredLease> {
        self.leases.values().map(|entry| entry.lease).collect()
    }

    pub fn lease_keys(&self, id: LeaseId) -> Option<Snapshot> {
        let entry = self.leases.get(&id)?;
        let kvs = entry
            .keys
            .iter()
            .filter_map(|k| Some(self.keys.get(k)?.key_value(k)))
            .collect();
        Some(self.snapshot(kvs, false))
    }

    pub fn history_len(&self) -> usize {
        self.log.len()
    }
}
