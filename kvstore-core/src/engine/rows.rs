//! Commits as table rows, for storages on SQL databases: one [`Change`] per event, the columns
//! of a log table, and back. The storages keep their own statements and types; what a row
//! means is written here once.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::storage::{Commit, StoredLease};
use crate::backend::{Event, KeyValue};
use crate::error::Error;
use crate::event_type::EventType;
use crate::lease::LeaseId;

/// A key's version as a row stores it: its value, revisions and lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The value.
    pub value: Bytes,
    /// The revision that created the key.
    pub create_revision: u64,
    /// The revision of this version.
    pub mod_revision: u64,
    /// The lease the key is attached to (0: none, as etcd says it).
    pub lease: i64,
}

impl Version {
    /// The version of `kv`.
    pub fn of(kv: &KeyValue) -> Version {
        Version {
            value: kv.value.clone(),
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            lease: kv.lease.map_or(0, |l| l.0),
        }
    }

    /// The key-value of `key` at this version.
    pub fn key_value(self, key: String) -> KeyValue {
        KeyValue {
            key,
            value: self.value,
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            lease: (self.lease != 0).then_some(LeaseId(self.lease)),
        }
    }
}

/// One change of a commit: a row of a log table, whose primary key is
/// `(revision, position)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The commit's revision.
    pub revision: u64,
    /// The change's place in its commit (0, 1, …).
    pub position: u32,
    /// The key changed.
    pub key: String,
    /// The version written; `None` for a delete.
    pub after: Option<Version>,
    /// The version before (a delete always has one).
    pub before: Option<Version>,
}

impl Change {
    /// The rows of `commit`.
    pub fn of(commit: &Commit) -> impl Iterator<Item = Change> + '_ {
        commit
            .events
            .iter()
            .enumerate()
            .map(|(position, event)| Change {
                revision: commit.revision,
                position: position as u32,
                key: event.kv.key.clone(),
                after: (event.kind != EventType::Deleted).then(|| Version::of(&event.kv)),
                before: event.prev_kv.as_ref().map(Version::of),
            })
    }

    /// The event this row records; `None` for a delete without a version before (not a row
    /// a storage writes: a store must refuse it as corrupt).
    pub fn event(self) -> Option<Event> {
        let before = self.before.map(|v| v.key_value(self.key.clone()));
        match self.after {
            Some(after) => Some(Event::put(after.key_value(self.key), before)),
            None => {
                let tombstone = KeyValue {
                    key: self.key,
                    value: Bytes::new(),
                    create_revision: 0,
                    mod_revision: self.revision,
                    lease: None,
                };
                Some(Event::delete(tombstone, before?))
            }
        }
    }
}

/// Groups rows read in `(revision, position)` order into commits. A row that is no event (a
/// delete without a version before) is a corrupt store: [`Error::Backend`] naming it.
pub fn commits(rows: impl IntoIterator<Item = Change>) -> Result<Vec<Arc<Commit>>, Error> {
    let mut commits: Vec<Commit> = Vec::new();
    for row in rows {
        let (revision, key) = (row.revision, row.key.clone());
        let event = row.event().ok_or_else(|| Error::Backend {
            message: format!(
                "corrupt store: the log's delete of {key:?} at revision {revision} has no version before it"
            ),
            source: None,
        })?;
        match commits.last_mut() {
            Some(last) if last.revision == revision => last.events.push(event),
            _ => commits.push(Commit {
                revision,
                events: vec![event],
            }),
        }
    }
    Ok(commits.into_iter().map(Arc::new).collect())
}

/// A duration as a column stores it: whole milliseconds.
pub fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A lease as a row stores it: its id, time to live and the start of its term in milliseconds
/// (of the store's clock).
pub fn lease(id: i64, ttl_ms: i64, renewed_ms: i64) -> StoredLease {
    StoredLease {
        id: LeaseId(id),
        ttl: Duration::from_millis(ttl_ms.max(0) as u64),
        renewed: Duration::from_millis(renewed_ms.max(0) as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str, create: u64, modified: u64, lease: Option<i64>) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Bytes::from(value.to_owned()),
            create_revision: create,
            mod_revision: modified,
            lease: lease.map(LeaseId),
        }
    }

    #[test]
    fn commits_survive_the_trip_through_rows() {
        let first = Commit {
            revision: 7,
            events: vec![
                Event::put(kv("/a", "1", 7, 7, Some(3)), None),
                Event::put(kv("/b", "2", 5, 7, None), Some(kv("/b", "1", 5, 5, None))),
            ],
        };
        let tombstone = KeyValue {
            value: Bytes::new(),
            create_revision: 0,
            mod_revision: 8,
            lease: None,
            ..kv("/a", "", 0, 8, None)
        };
        let second = Commit {
            revision: 8,
            events: vec![Event::delete(tombstone, kv("/a", "1", 7, 7, Some(3)))],
        };
        let rows: Vec<Change> = Change::of(&first).chain(Change::of(&second)).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].position, 1);
        assert_eq!(rows[2].after, None);
        let back = commits(rows).unwrap();
        assert_eq!(back, vec![Arc::new(first), Arc::new(second)]);
    }

    #[test]
    fn a_delete_without_a_version_before_is_refused() {
        let row = Change {
            revision: 2,
            position: 0,
            key: "/a".to_owned(),
            after: None,
            before: None,
        };
        let err = commits([row]).unwrap_err();
        assert!(err.to_string().contains("\"/a\" at revision 2"), "{err}");
    }
}
