//! The versioned keyspace: every key keeps its versions back to the compaction point, so reads
//! at a past revision (paginated lists) see a consistent snapshot.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;

use bytes::Bytes;
use kvstore_core::backend::KeyValue;
use kvstore_core::LeaseId;

/// One version of a key; a tombstone when `value` is `None`.
#[derive(Debug, Clone)]
struct Version {
    create_revision: u64,
    mod_revision: u64,
    value: Option<Bytes>,
    lease: Option<LeaseId>,
}

impl Version {
    fn key_value(&self, key: &str) -> Option<KeyValue> {
        self.value.as_ref().map(|value| KeyValue {
            key: key.to_owned(),
            value: value.clone(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            lease: self.lease,
        })
    }
}

/// Versions in increasing mod revision. A deque: compaction drops versions from the front,
/// which must not cost a move of every later version (a hot key can have many).
type Versions = VecDeque<Version>;

/// The live version of a key at `revision` (the latest when `revision` is `u64::MAX`).
fn at(versions: &Versions, revision: u64) -> Option<&Version> {
    versions
        .iter()
        .rev()
        .find(|v| v.mod_revision <= revision)
        .filter(|v| v.value.is_some())
}

/// Every key with its versions.
#[derive(Debug, Default)]
pub(crate) struct Keyspace {
    keys: BTreeMap<String, Versions>,
}

/// A page of a range read.
pub(crate) struct Page {
    pub kvs: Vec<KeyValue>,
    pub more: bool,
}

impl Keyspace {
    /// The live value of `key`.
    pub fn get(&self, key: &str) -> Option<KeyValue> {
        self.keys
            .get(key)
            .and_then(|v| at(v, u64::MAX))
            .and_then(|v| v.key_value(key))
    }

    /// `(create_revision, mod_revision)` of the live key, `(0, 0)` when absent.
    pub fn revisions(&self, key: &str) -> (u64, u64) {
        self.keys
            .get(key)
            .and_then(|v| at(v, u64::MAX))
            .map_or((0, 0), |v| (v.create_revision, v.mod_revision))
    }

    /// The lease of the live key.
    pub fn lease(&self, key: &str) -> Option<Option<LeaseId>> {
        self.keys
            .get(key)
            .and_then(|v| at(v, u64::MAX))
            .map(|v| v.lease)
    }

    /// Live keys in `[start, end)` (or just `start` when `end` is `None`) at `revision`.
    pub fn range(&self, start: &str, end: Option<&str>, revision: u64, limit: usize) -> Page {
        let mut kvs = Vec::new();
        let mut more = false;
        let end = match end {
            None => {
                return Page {
                    kvs: self
                        .keys
                        .get(start)
                        .and_then(|v| at(v, revision))
                        .and_then(|v| v.key_value(start))
                        .into_iter()
                        .collect(),
                    more: false,
                }
            }
            Some(end) if start >= end => return Page { kvs, more },
            Some(end) => end,
        };
        let bounds = (Bound::Included(start), Bound::Excluded(end));
        for (key, versions) in self.keys.range::<str, _>(bounds) {
            if let Some(kv) = at(versions, revision).and_then(|v| v.key_value(key)) {
                if limit > 0 && kvs.len() == limit {
                    more = true;
                    break;
                }
                kvs.push(kv);
            }
        }
        Page { kvs, more }
    }

    /// Live keys in `[start, end)` now.
    pub fn live_keys(&self, start: &str, end: &str) -> Vec<String> {
        self.range(start, Some(end), u64::MAX, 0)
            .kvs
            .into_iter()
            .map(|kv| kv.key)
            .collect()
    }

    /// Writes `value` at `key` at `revision`; returns the new and the previous value.
    pub fn put(
        &mut self,
        key: &str,
        value: Bytes,
        lease: Option<LeaseId>,
        revision: u64,
    ) -> (KeyValue, Option<KeyValue>) {
        let versions = self.keys.entry(key.to_owned()).or_default();
        let previous = at(versions, u64::MAX).cloned();
        let version = Version {
            create_revision: previous.as_ref().map_or(revision, |p| p.create_revision),
            mod_revision: revision,
            value: Some(value),
            lease,
        };
        let current = version.key_value(key).expect("a put is live");
        push(versions, version);
        (current, previous.and_then(|p| p.key_value(key)))
    }

    /// Deletes `key` at `revision`, returning its previous value when it was live.
    pub fn delete(&mut self, key: &str, revision: u64) -> Option<KeyValue> {
        let versions = self.keys.get_mut(key)?;
        let previous = at(versions, u64::MAX)?.key_value(key)?;
        push(
            versions,
            Version {
                create_revision: 0,
                mod_revision: revision,
                value: None,
                lease: None,
            },
        );
        Some(previous)
    }

    /// Drops the versions of `key` no read at or after `revision` can see.
    pub fn compact_key(&mut self, key: &str, revision: u64) {
        let Some(versions) = self.keys.get_mut(key) else {
            return;
        };
        // Reads at `revision` or later see every version from `revision` on, and at most
        // the last version before it, which only matters when it is live.
        let first_kept = versions.partition_point(|v| v.mod_revision < revision);
        let keep_from = match first_kept.checked_sub(1) {
            Some(last_before) if versions[last_before].value.is_some() => last_before,
            _ => first_kept,
        };
        versions.drain(..keep_from);
        if versions.is_empty() {
            self.keys.remove(key);
        }
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.keys
            .values()
            .filter(|v| at(v, u64::MAX).is_some())
            .count()
    }
}

/// Appends a version, replacing one written earlier in the same transaction.
fn push(versions: &mut Versions, version: Version) {
    match versions.back_mut() {
        Some(last) if last.mod_revision == version.mod_revision => *last = version,
        _ => versions.push_back(version),
    }
}
