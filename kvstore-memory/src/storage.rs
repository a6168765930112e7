//! The engine's storage in this process: the state behind a read-write lock, leases on tokio
//! time. No lock is held across an await; reads share the read lock.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use kvstore_core::backend::Capabilities;
use kvstore_core::engine::{
    Append, Appended, Commit, Head, Snapshot, Storage, StoredLease, Touched,
};
use kvstore_core::{LeaseId, Result};
use parking_lot::RwLock;
use tokio::time::Instant;

use crate::state::State;

/// The engine's storage of a [`MemoryBackend`](crate::MemoryBackend): live keys, the log of
/// commits and the leases, in this process.
pub struct MemoryStorage {
    pub(crate) state: RwLock<State>,
    /// Revisions of history kept.
    history: u64,
    /// The start of the store's clock.
    epoch: Instant,
}

impl MemoryStorage {
    pub(crate) fn new(history: u64) -> Self {
        MemoryStorage {
            state: RwLock::new(State::default()),
            history: history.max(1),
            epoch: Instant::now(),
        }
    }

    fn clock(&self) -> Duration {
        Instant::now().saturating_duration_since(self.epoch)
    }
}

impl std::fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.read();
        f.debug_struct("MemoryStorage")
            .field("revision", &state.head)
            .field("compacted", &state.compacted)
            .field("keys", &state.keys.len())
            .field("history", &state.history_len())
            .finish()
    }
}

impl Storage for MemoryStorage {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::basic()
    }

    async fn head(&self) -> Result<Head> {
        let state = self.state.read();
        Ok(Head {
            revision: state.head,
            compacted: state.compacted,
        })
    }

    async fn get(&self, keys: &[String]) -> Result<Snapshot> {
        Ok(self.state.read().get(keys))
    }

    async fn range(&self, start: &str, end: &str, limit: usize) -> Result<Snapshot> {
        Ok(self.state.read().range(start, end, limit))
    }

    async fn append(&self, append: &Append) -> Result<Appended> {
        let now = self.clock();
        let mut state = self.state.write();
        let appended = state.append(append, now);
        if appended == Appended::Done {
            state.trim(self.history);
        }
        Ok(appended)
    }

    async fn log(&self, from: u64, to: u64) -> Result<Vec<Arc<Commit>>> {
        self.state.read().log(from, to)
    }

    fn head_changes(&self) -> BoxStream<'static, u64> {
        // Only this process writes it: the engine knows every head.
        stream::pending().boxed()
    }

    async fn compact(&self, revision: u64) -> Result<()> {
        self.state.write().compact(revision);
        Ok(())
    }

    async fn create_lease(&self, ttl: Duration) -> Result<StoredLease> {
        let now = self.clock();
        Ok(self.state.write().create_lease(ttl, now))
    }

    async fn touch_lease(&self, id: LeaseId) -> Result<Option<Touched>> {
        let now = self.clock();
        let before = self.state.write().touch_lease(id, now);
        Ok(before.map(|before| Touched {
            before,
            renewed: now,
        }))
    }

    async fn leases(&self) -> Result<Vec<StoredLease>> {
        Ok(self.state.read().leases())
    }

    async fn lease_keys(&self, id: LeaseId) -> Result<Option<Snapshot>> {
        Ok(self.state.read().lease_keys(id))
    }

    async fn now(&self) -> Result<Duration> {
        Ok(self.clock())
    }
}
