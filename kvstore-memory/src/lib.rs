//! # kvstore-memory
//!
//! The in-process backend of kvstore: etcd's revision model in memory, for tests, examples and
//! small tools. It passes the same conformance suite as the etcd backend.
//!
//! - built on kvstore-core's log engine ([`kvstore_core::engine`]), which gives it etcd's
//!   semantics; this crate keeps the state: live keys, the log of commits, leases;
//! - one global revision counter; per-key create and mod revisions; paginated lists read a
//!   consistent snapshot (the engine undoes the commits after it);
//! - a bounded history ([`MemoryBackend::with_history`] revisions, 10,000 by default) that
//!   watches replay from; older start points give `Gone`, like a compacted etcd;
//! - leases that expire on tokio time, so tests can use `tokio::time::pause`;
//! - any number of watchers, each reading the shared log at its own pace: writers never
//!   wait for them, and a watcher that falls behind the retained history gets `Gone`.
//!
//! Clones of a [`MemoryBackend`] share one store. No lock is held across an await; reads share
//! a read lock; a write with no other writer waiting is committed by its caller, no task hop.
//!
//! ```
//! use kvstore_core::backend::{Backend, RangeRequest};
//! use kvstore_memory::MemoryBackend;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let backend = MemoryBackend::new();
//! assert_eq!(backend.current_revision().await.unwrap(), 0);
//! let read = backend.range(RangeRequest::key("/nothing")).await.unwrap();
//! assert!(read.kvs.is_empty());
//! # });
//! ```

#[cfg(test)]
mod engine_tests;
mod state;
mod storage;

use kvstore_core::engine::{EngineBacked, LogBackend};

pub use crate::storage::MemoryStorage;

/// Revisions of history kept by default.
pub const DEFAULT_HISTORY: u64 = 10_000;

/// The in-process backend. Clones share one store.
#[derive(Clone)]
pub struct MemoryBackend {
    engine: LogBackend<MemoryStorage>,
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MemoryBackend")
            .field(self.engine.storage())
            .finish()
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    /// An empty store keeping [`DEFAULT_HISTORY`] revisions of history.
    pub fn new() -> Self {
        Self::with_history(DEFAULT_HISTORY)
    }

    /// An empty store keeping `revisions` revisions of history for watches and paginated
    /// lists (at least one).
    pub fn with_history(revisions: u64) -> Self {
        MemoryBackend {
            engine: LogBackend::new(MemoryStorage::new(revisions)),
        }
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.engine.storage().state.read().keys.len()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl EngineBacked for MemoryBackend {
    type Storage = MemoryStorage;
    fn engine(&self) -> &LogBackend<MemoryStorage> {
        &self.engine
    }
}

/// The stores [`MemoryBackend::named`] hands out, by name, for the life of the process.
static NAMED: std::sync::Mutex<std::collections::BTreeMap<String, MemoryBackend>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

impl MemoryBackend {
    /// The in-process store named `name`, created on first use and shared by every later call
    /// with that name in the process (`memory://NAME`), like the Go libraries' in-memory
    /// clusters: components of one test can share a store without passing it around. It lives
    /// as long as the process; its background tasks run on the tokio runtime that first
    /// watches it or grants a lease.
    pub fn named(name: &str) -> MemoryBackend {
        NAMED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }
}
