//! # kvstore-sqlite
//!
//! The SQLite backend of kvstore: typed objects with revisions, watches, leases and
//! transactions in one file, with no server to run. It passes the same conformance suite as the
//! etcd backend. The library is bundled (built with the machine's C compiler): no system
//! package.
//!
//! ```
//! use kvstore_core::Store;
//! use kvstore_codec::Json;
//! use kvstore_sqlite::{SqliteBackend, SqliteConfig};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let backend = SqliteBackend::open(SqliteConfig::new(dir.path().join("state.db"))).await?;
//! let store = Store::new(backend, Json);
//! store.health().await?;
//! # Ok::<(), kvstore_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! Or by URL, through the `kvstore` facade (feature `sqlite`): `sqlite:///var/lib/app/state.db`,
//! `sqlite://relative.db?synchronous=full` (options: [`SqliteConfig::from_store_config`]).
//!
//! ## Design
//!
//! kvstore-core's log engine ([`kvstore_core::engine`]) gives the store etcd's semantics; this
//! crate keeps its state in tables:
//!
//! - **A log of revisions, one row per change** (`kvstore_log`, primary key `(revision,
//!   position)`); the head is its last revision. A write transaction (`BEGIN IMMEDIATE`: it
//!   holds the database's one write lock from its start) checks that the head is still the one
//!   the engine decided on and writes the rows of the next revisions — the compare-and-swap on
//!   the revision, in one transaction. Revisions are assigned by the writer holding the lock, so
//!   commit order is revision order and the log has no holes (no sequence that could commit
//!   out of order).
//! - **Live keys in their own table** (`kvstore_keys`, primary key `key`), so a get is a
//!   primary-key lookup and a list page a primary-key range scan of exactly the page (plus one
//!   row, to know whether more follow): no scan grows with the table. Watch catch-up reads the
//!   log by its primary key from the revision asked; a lease's keys are found through a partial
//!   index. The statements and their query plans are checked in `tests/plans.rs`.
//! - **Compaction on by default**: the engine keeps [`SqliteConfig::retain`] revisions (10,000)
//!   and deletes older log rows as writes go on (every tenth of that), so the log stays
//!   bounded under a steady update load; `Backend::compact` compacts at once.
//! - **Group commit**: concurrent writes are decided one after the other and appended in one
//!   transaction, each with its own revision and its own result (the engine's writer).
//! - **Reads** run in read transactions on a few reading connections (WAL: readers never wait
//!   for the writer): each read is one snapshot, with the head it was read at.
//! - **Watches**: a write of this process wakes its watches at once; a write of another
//!   process on the same file is seen within [`SqliteConfig::poll_interval`] (100 ms), when the
//!   head is read again — the log is then read from the last revision delivered, so nothing is
//!   skipped.
//! - **Leases** on the machine's clock (milliseconds of the Unix epoch), so that every process
//!   using the file agrees; each checks for expired leases every
//!   [`SqliteConfig::lease_check_interval`], so a lease of a process that died still ends.
//! - **Durability**: WAL with `synchronous = NORMAL` by default — an acknowledged write
//!   survives `kill -9` of the process; a power cut can lose the last commits (never
//!   consistency). [`Synchronous::Full`] syncs every commit (a group of writes) to disk.
//! - **Several processes** may use the file: the head compare-and-swap makes a writer that lost
//!   the race decide again on what the other wrote; a lock held longer than
//!   [`SqliteConfig::busy_timeout`] is [`Error::Unavailable`].
//!
//! ## Schema
//!
//! The tables (version 1, recorded in `kvstore_meta`; a file of another version is refused with
//! [`Error::InvalidConfig`]) are those of the crate's
//! README, which also shows how to look at the live objects with `sqlite3`.

mod config;
mod error;
mod pool;
mod schema;
mod storage;
mod tables;

use kvstore_core::engine::{EngineBacked, LogBackend, Options};
use kvstore_core::{Error, Result};

pub use crate::config::{SqliteConfig, Synchronous};
pub use crate::storage::SqliteStorage;
pub use crate::tables::READS as STATEMENTS;

/// The SQLite backend. Clones share one engine and its connections.
#[derive(Clone, Debug)]
pub struct SqliteBackend {
    engine: LogBackend<SqliteStorage>,
}

impl SqliteBackend {
    /// Opens the store in `config.path`, creating the file and its tables when missing.
    ///
    /// Errors: a file that is not a SQLite database, a directory that does not exist or a file
    /// of another schema version are [`Error::InvalidConfig`]; a file this process may not
    /// write is [`Error::PermissionDenied`].
    pub async fn open(config: SqliteConfig) -> Result<SqliteBackend> {
        let poll_interval = config.poll_interval;
        let mut options = Options::default().lease_check_interval(config.lease_check_interval);
        if let Some(revisions) = config.retain {
            options = options.retain(revisions);
        }
        let pool = tokio::task::spawn_blocking(move || pool::Pool::open(config))
            .await
            .map_err(|err| Error::Backend {
                message: format!("opening the SQLite store did not finish: {err}"),
                source: None,
            })??;
        let storage = SqliteStorage::new(pool, poll_interval);
        Ok(SqliteBackend {
            engine: LogBackend::with_options(storage, options),
        })
    }

    /// The database file.
    pub fn path(&self) -> &std::path::Path {
        self.engine.storage().pool.path()
    }
}

impl EngineBacked for SqliteBackend {
    type Storage = SqliteStorage;
    fn engine(&self) -> &LogBackend<SqliteStorage> {
        &self.engine
    }
}
