//! # kvstore-postgres
//!
//! The PostgreSQL backend of kvstore: typed objects with revisions, watches, leases and
//! transactions in the tables of a PostgreSQL database, for teams that already run one. It
//! passes the same conformance suite as the etcd backend, on a real PostgreSQL 15.
//!
//! ```no_run
//! use kvstore_core::Store;
//! use kvstore_codec::Json;
//! use kvstore_postgres::{PostgresBackend, PostgresConfig};
//!
//! # async fn demo() -> kvstore_core::Result<()> {
//! let config = PostgresConfig::new("127.0.0.1", 5432, "app", "apps").password("secret");
//! let store = Store::new(PostgresBackend::connect(config).await?, Json);
//! store.health().await?;
//! # Ok(()) }
//! ```
//!
//! Or by URL, through the `kvstore` facade (feature `postgres`):
//! `postgres://app:secret@127.0.0.1:5432/apps?schema=orders` (options:
//! [`PostgresConfig::from_store_config`]).
//!
//! ## Design
//!
//! kvstore-core's log engine ([`kvstore_core::engine`]) gives the store etcd's semantics; this
//! crate keeps its state in tables (the crate's README shows them) and does every storage call
//! in **one statement**: one round trip, one snapshot, atomic.
//!
//! - **A log of revisions, one row per change** (`kvstore_log`, primary key `(revision,
//!   position)`). An append is one statement whose first step is `UPDATE kvstore_meta SET head
//!   = new WHERE head = expected` — the compare-and-swap on the revision. The meta row's lock
//!   orders every append: a second writer waits for the first to commit, then finds the head
//!   moved and writes nothing. Revisions come from the head, not a sequence, so commit order is
//!   revision order and the log has no holes a watcher could skip.
//! - **Live keys in their own table** (`kvstore_keys`, primary key `key`, a `bytea`: compared
//!   byte by byte as etcd does, and able to hold the `\0` of a range's bounds, which `text`
//!   cannot): a get is an index lookup, a list page an index range scan of the
//!   page (and one row more). Watch catch-up reads the log by its primary key; a lease's keys
//!   are found through a partial index. The plans are checked in `tests/plans.rs`.
//! - **Compaction on by default**: the engine keeps [`PostgresConfig::retain`] revisions
//!   (10,000) and deletes older log rows as writes go on (every tenth of that); each
//!   compaction is followed by a `VACUUM` of the log and the keys in the background, so their
//!   dead rows stay bounded by one compaction step, whatever autovacuum's schedule.
//! - **Group commit**: concurrent writes are decided one after the other and appended in one
//!   statement, each with its own revision and its own result (the engine's writer).
//! - **Watches**: every append notifies the schema's channel (`pg_notify`, delivered on
//!   commit). A listening connection per store takes a notification only as a wake-up: it
//!   then reads the head, as it does after every reconnection and every
//!   [`PostgresConfig::poll_interval`] — so a lost notification delays, and loses nothing.
//! - **Leases** on the server's clock (`clock_timestamp()`), so every client agrees; each
//!   checks for expired leases every [`PostgresConfig::lease_check_interval`]. A revocation
//!   locks the lease's row, so a renewal racing it either waits and finds no lease, or wins
//!   and the revocation writes nothing.
//! - **Durability** is the server's (`synchronous_commit`): an acknowledged write survives a
//!   server restart or crash. The pool opens new connections after a restart by itself; a
//!   write whose connection was lost before its answer is
//!   [`Error::Ambiguous`] (it may have committed), a read
//!   [`Error::Unavailable`].
//! - **TLS** on rustls, as etcd URLs ask for it (`ca`, `cert`, `key`): the server's certificate
//!   is checked against the CA and the host name, always; a refused certificate either way, or
//!   a server without TLS, is [`Error::Tls`], not retryable.
//! - **Credentials**: a refused password is
//!   [`Error::Unauthenticated`], a missing privilege
//!   [`Error::PermissionDenied`]; the password is a
//!   [`Secret`](kvstore_core::config::Secret), never printed.

mod config;
mod connection;
mod error;
mod listen;
mod rows;
mod schema;
mod statements;
mod storage;
mod tls;

use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use kvstore_core::engine::{EngineBacked, LogBackend, Options};
use kvstore_core::{Error, Result};

pub use crate::config::PostgresConfig;
pub use crate::statements::all as statements;
pub use crate::storage::PostgresStorage;

/// The PostgreSQL backend. Clones share one engine and its connections.
#[derive(Clone, Debug)]
pub struct PostgresBackend {
    engine: LogBackend<PostgresStorage>,
}

impl PostgresBackend {
    /// Connects, creating the schema and its tables when missing.
    ///
    /// Errors: a refused password is [`Error::Unauthenticated`], a missing privilege
    /// [`Error::PermissionDenied`], a missing database or tables of another schema version
    /// [`Error::InvalidConfig`], a server that does not answer [`Error::Unavailable`], a TLS
    /// handshake that fails [`Error::Tls`].
    pub async fn connect(config: PostgresConfig) -> Result<PostgresBackend> {
        config.check()?;
        let tls = config.tls.as_ref().map(tls::connector).transpose()?;
        let recycling = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &tls {
            Some(tls) => Manager::from_config(config.driver(), tls.clone(), recycling),
            None => Manager::from_config(config.driver(), tokio_postgres::NoTls, recycling),
        };
        let pool = Pool::builder(manager)
            .max_size(config.pool_size - 1)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(config.connect_timeout))
            .wait_timeout(Some(config.request_timeout))
            .build()
            .map_err(|err| Error::InvalidConfig {
                message: format!("PostgreSQL connection pool: {err}"),
            })?;
        let mut client = pool.get().await.map_err(error::pool_error)?;
        schema::ensure(&mut client, &config.schema).await?;
        drop(client);
        let mut options = Options::default().lease_check_interval(config.lease_check_interval);
        if let Some(revisions) = config.retain {
            options = options.retain(revisions);
        }
        let channel = format!("kvstore_{}", config.schema);
        let shared = Arc::new(connection::Shared {
            pool,
            config,
            tls,
            channel,
            vacuuming: std::sync::atomic::AtomicBool::new(false),
        });
        Ok(PostgresBackend {
            engine: LogBackend::with_options(PostgresStorage { shared }, options),
        })
    }
}

impl EngineBacked for PostgresBackend {
    type Storage = PostgresStorage;
    fn engine(&self) -> &LogBackend<PostgresStorage> {
        &self.engine
    }
}
