//! A storage for the log engine that keeps the whole store in one JSON file — a template for
//! writing a backend on `kvstore::engine::Storage`, not a database: every change rewrites the
//! file (to a temporary file, then renamed over it, so a crash leaves the old or the new
//! store), which is fine for a few thousand keys. One process uses a directory at a time.
//!
//! What the engine needs, and where it is here: keys with their revisions (`Data::keys`), the
//! log of commits since the compaction point (`Data::log`), leases with the start of their
//! term (`Data::leases`), one conditional atomic step (`append`: check, change the copy in
//! memory, write the file), and a clock (tokio's, so tests can pause it; a store reopened later
//! starts every lease on a fresh term).

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use kvstore::backend::{Event, KeyValue};
use kvstore::engine::{Append, Appended, Commit, Head, Snapshot, Storage, StoredLease, Touched};
use kvstore::{Error, LeaseId, Result};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Commits kept for watches and paginated lists; older ones are compacted on each write.
const HISTORY: u64 = 1000;

/// A key as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    value: Vec<u8>,
    create: u64,
    modified: u64,
    lease: Option<i64>,
}

/// One change of a commit: the key after it (`None`: deleted) and before it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Change {
    key: String,
    after: Option<Stored>,
    before: Option<Stored>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    revision: u64,
    changes: Vec<Change>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct LeaseRecord {
    ttl_secs: u64,
    /// The start of its term, in milliseconds of the store's clock.
    renewed_ms: u64,
}

/// Everything the file holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Data {
    head: u64,
    compacted: u64,
    keys: BTreeMap<String, Stored>,
    log: VecDeque<Entry>,
    leases: BTreeMap<i64, LeaseRecord>,
    last_lease: i64,
}

/// The store in `<dir>/store.json`.
#[derive(Debug)]
pub struct FileStorage {
    path: PathBuf,
    data: Mutex<Data>,
    epoch: Instant,
}

impl FileStorage {
    /// Opens the store in `dir`, creating it if it has no store yet.
    pub fn open(dir: &Path) -> Result<FileStorage> {
        let path = dir.join("store.json");
        let mut data: Data = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Backend {
                message: format!("{} is not a store this backend wrote: {e}", path.display()),
                source: None,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Data::default(),
            Err(e) => return Err(io_error(&path, e)),
        };
        for lease in data.leases.values_mut() {
            lease.renewed_ms = 0; // a fresh term on the new clock
        }
        Ok(FileStorage {
            path,
            data: Mutex::new(data),
            epoch: Instant::now(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn clock(&self) -> Duration {
        let elapsed = Instant::now().saturating_duration_since(self.epoch);
        Duration::from_millis(elapsed.as_millis() as u64)
    }

    /// Writes `data` to the file, atomically.
    fn save(&self, data: &Data) -> Result<()> {
        let bytes = serde_json::to_vec(data).map_err(|e| Error::Backend {
            message: format!("encoding the store: {e}"),
            source: None,
        })?;
        let temporary = self.path.with_extension("json.new");
        std::fs::write(&temporary, bytes).map_err(|e| io_error(&temporary, e))?;
        std::fs::rename(&temporary, &self.path).map_err(|e| io_error(&self.path, e))
    }

    /// Runs `change` on a copy of the data and saves it; the copy replaces the data only once
    /// it is on disk, so a failed write changes nothing.
    fn change<T>(&self, change: impl FnOnce(&mut Data) -> T) -> Result<T> {
        let mut data = self.lock();
        let mut copy = data.clone();
        let answer = change(&mut copy);
        self.save(&copy)?;
        *data = copy;
        Ok(answer)
    }
}

fn io_error(path: &Path, err: std::io::Error) -> Error {
    Error::Unavailable {
        message: format!("{}: {err}", path.display()),
        source: Some(Box::new(err)),
    }
}

fn key_value(key: &str, stored: &Stored) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: stored.value.clone().into(),
        create_revision: stored.create,
        mod_revision: stored.modified,
        lease: stored.lease.map(LeaseId),
    }
}

fn stored(kv: &KeyValue) -> Stored {
    Stored {
        value: kv.value.to_vec(),
        create: kv.create_revision,
        modified: kv.mod_revision,
        lease: kv.lease.map(|l| l.0),
    }
}

fn lease(id: i64, record: &LeaseRecord) -> StoredLease {
    StoredLease {
        id: LeaseId(id),
        ttl: Duration::from_secs(record.ttl_secs),
        renewed: Duration::from_millis(record.renewed_ms),
    }
}

impl Data {
    fn snapshot(&self, kvs: Vec<KeyValue>, more: bool) -> Snapshot {
        let head = Head {
            revision: self.head,
            compacted: self.compacted,
        };
        head.snapshot(kvs, more)
    }

    fn lease_alive(&self, id: LeaseId, now: Duration) -> bool {
        self.leases
            .get(&id.0)
            .is_some_and(|record| !lease(id.0, record).expired_at(now))
    }
}

impl Storage for FileStorage {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn head(&self) -> Result<Head> {
        let data = self.lock();
        Ok(Head {
            revision: data.head,
            compacted: data.compacted,
        })
    }

    async fn get(&self, keys: &[String]) -> Result<Snapshot> {
        let data = self.lock();
        let kvs = keys
            .iter()
            .filter_map(|key| data.keys.get(key).map(|s| key_value(key, s)))
            .collect();
        Ok(data.snapshot(kvs, false))
    }

    async fn range(&self, start: &str, end: &str, limit: usize) -> Result<Snapshot> {
        let data = self.lock();
        let mut found = data
            .keys
            .iter()
            .filter(|(key, _)| key.as_str() >= start && key.as_str() < end)
            .map(|(key, s)| key_value(key, s));
        let take = if limit == 0 { usize::MAX } else { limit };
        let kvs: Vec<KeyValue> = found.by_ref().take(take).collect();
        let more = found.next().is_some();
        Ok(data.snapshot(kvs, more))
    }

    async fn append(&self, append: &Append) -> Result<Appended> {
        let now = self.clock();
        self.change(|data| {
            if append.head != data.head {
                return Appended::HeadMoved;
            }
            if let Some(dead) = append.leases.iter().find(|id| !data.lease_alive(**id, now)) {
                return Appended::LeaseMissing(*dead);
            }
            if let Some(revocation) = append.revocation {
                let Some(record) = data.leases.get(&revocation.lease.0) else {
                    return Appended::LeaseMissing(revocation.lease);
                };
                let renewed = lease(revocation.lease.0, record).renewed;
                if revocation.renewed.is_some_and(|judged| judged != renewed) {
                    return Appended::LeaseRenewed;
                }
                data.leases.remove(&revocation.lease.0);
            }
            for commit in &append.commits {
                let changes = commit.events.iter().map(|event| Change {
                    key: event.kv.key.clone(),
                    after: (event.kind != kvstore::EventType::Deleted).then(|| stored(&event.kv)),
                    before: event.prev_kv.as_ref().map(stored),
                });
                let entry = Entry {
                    revision: commit.revision,
                    changes: changes.collect(),
                };
                for change in &entry.changes {
                    match &change.after {
                        Some(after) => data.keys.insert(change.key.clone(), after.clone()),
                        None => data.keys.remove(&change.key),
                    };
                }
                data.log.push_back(entry);
                data.head = commit.revision;
            }
            compact(data, data.head.saturating_sub(HISTORY));
            Appended::Done
        })
    }

    async fn log(&self, from: u64, to: u64) -> Result<Vec<Arc<Commit>>> {
        let data = self.lock();
        if from < data.compacted {
            return Err(Error::Gone {
                revision: from,
                compacted: data.compacted,
            });
        }
        let commits = data
            .log
            .iter()
            .filter(|entry| entry.revision >= from && entry.revision <= to)
            .map(|entry| {
                let events = entry
                    .changes
                    .iter()
                    .filter_map(|c| event(entry.revision, c));
                Arc::new(Commit {
                    revision: entry.revision,
                    events: events.collect(),
                })
            });
        Ok(commits.collect())
    }

    fn head_changes(&self) -> BoxStream<'static, u64> {
        // Only this process writes the file: the engine knows every head.
        stream::pending().boxed()
    }

    async fn compact(&self, revision: u64) -> Result<()> {
        self.change(|data| compact(data, revision))
    }

    async fn create_lease(&self, ttl: Duration) -> Result<StoredLease> {
        let now = self.clock();
        self.change(|data| {
            data.last_lease += 1;
            let record = LeaseRecord {
                ttl_secs: ttl.as_secs(),
                renewed_ms: now.as_millis() as u64,
            };
            data.leases.insert(data.last_lease, record);
            lease(data.last_lease, &record)
        })
    }

    async fn touch_lease(&self, id: LeaseId) -> Result<Option<Touched>> {
        let now = self.clock();
        self.change(|data| {
            let record = data.leases.get_mut(&id.0)?;
            let before = lease(id.0, record);
            record.renewed_ms = now.as_millis() as u64;
            Some(Touched {
                before,
                renewed: now,
            })
        })
    }

    async fn leases(&self) -> Result<Vec<StoredLease>> {
        let data = self.lock();
        Ok(data.leases.iter().map(|(id, r)| lease(*id, r)).collect())
    }

    async fn lease_keys(&self, id: LeaseId) -> Result<Option<Snapshot>> {
        let data = self.lock();
        if !data.leases.contains_key(&id.0) {
            return Ok(None);
        }
        let kvs = data
            .keys
            .iter()
            .filter(|(_, s)| s.lease == Some(id.0))
            .map(|(key, s)| key_value(key, s))
            .collect();
        Ok(Some(data.snapshot(kvs, false)))
    }

    async fn now(&self) -> Result<Duration> {
        Ok(self.clock())
    }
}

/// Drops the commits before `revision`, moving the compaction point (never back).
fn compact(data: &mut Data, revision: u64) {
    if revision > data.compacted {
        data.log.retain(|entry| entry.revision >= revision);
        data.compacted = revision;
    }
}

/// The event of a logged change (every change writes or deletes a key that was there).
fn event(revision: u64, change: &Change) -> Option<Event> {
    let before = change.before.as_ref().map(|s| key_value(&change.key, s));
    match &change.after {
        Some(after) => Some(Event::put(key_value(&change.key, after), before)),
        None => {
            let tombstone = KeyValue {
                key: change.key.clone(),
                value: Default::default(),
                create_revision: 0,
                mod_revision: revision,
                lease: None,
            };
            Some(Event::delete(tombstone, before?))
        }
    }
}
