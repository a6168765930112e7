//! # kvstore-zookeeper
//!
//! The ZooKeeper backend of kvstore: etcd's revision model — one global revision, create and
//! mod revisions, compare-and-swap transactions, reads at a past revision, watches that replay
//! from a revision, leases — built inside ZooKeeper, which has none of them. The semantics come
//! from kvstore-core's log engine ([`kvstore_core::engine`]: the transaction rules, one writer
//! batching the transactions of this client, watch cursors, lease expiry); this crate is its
//! storage in znodes ([`ZooKeeperStorage`]): a revision log, the current state beside it, and a
//! compare-and-append done as one atomic ZooKeeper `multi`, in the way kine builds them on SQL.
//! It passes the same conformance suite as the etcd and memory backends.
//!
//! ```no_run
//! use kvstore_zookeeper::{ZooKeeperBackend, ZooKeeperConfig};
//!
//! # async fn run() -> kvstore_core::Result<()> {
//! let backend = ZooKeeperBackend::connect(ZooKeeperConfig::new(["127.0.0.1:2181"]).root("/apps/a")).await?;
//! let store = kvstore_core::Store::new(backend, kvstore_codec::Json);
//! # Ok(()) }
//! ```
//!
//! ## What is stored
//!
//! Everything lives under the configured root (`/kvstore` by default; `zk://host:2181/root`):
//!
//! | znode | holds |
//! |---|---|
//! | `head` | the store's revision, as decimal text |
//! | `compacted` | the compaction point |
//! | `log/<revision, 20 digits>` | the events of the write of that revision (JSON: key, the key's record after a put — a small value left to the key's record, `"value":"record"` — and its record before, value and all) |
//! | `layout` | the znode layout (`3`; a store of layout `2` is read and marked `3`) |
//! | `keys/d<escaped directory>/<escaped name>` | a live key, in the znode of its parent directory (`/users/alice` in `keys/d%2Fusers/alice`): `{"create":…, "mod":…, "lease":…, "value":…}`; the value is `{"text":…}` or `{"base64":…}` up to 4 KiB, else `{"znodes":{"id":…, "len":…, "chunks":…}}` |
//! | `values/<id>`, `values/<id>~<n>` | a value over 4 KiB, in chunks of 512 KiB |
//! | `leases/<id>` | a lease's time to live (`{"ttl":…}`); the znode's mtime is its last renewal |
//! | `leases/<id>/<escaped key>` | a key attached to the lease |
//! | `clock` | touched to read the ZooKeeper leader's clock |
//!
//! A key's directory and last segment are percent-encoded into znode names (everything but
//! letters, digits and `-_.`), so every key the contract accepts has a valid path. Values up to 4 KiB are kept in
//! the key's record, so a get reads one znode, and once replaced in the log entry of the change
//! that replaced them (as its previous value), so a small value is stored twice at most;
//! larger ones in znodes of their own, so a value of any size up to the store's limit (1.5 MiB, as on etcd) fits under
//! ZooKeeper's 1 MiB `jute.maxbuffer` (the `append` module says how).
//!
//! ## Writes
//!
//! The engine's writer takes the transactions waiting together, reads the head (revision R)
//! and the keys they name, and decides each on the state the ones before it left; this storage
//! commits them in one `multi` that creates `log/R+1`, `log/R+2`, …: it fails if another client
//! committed R+1 first, and then nothing was written and the batch is decided again. So the log
//! is dense, every writing transaction gets a revision of its own (lock and election entries
//! included), and a compare decided on the state at R holds at R+1. A lone put costs two round
//! trips — the read (`sync` and one `multiRead`) and a `multi` of 3 operations (the log entry,
//! `head`, the key's record) — or only the `multi` when the engine knows the key as it stands
//! at the head (this client read or wrote it last): a read-modify-write is then a get and a
//! `multi`, as raw ZooKeeper's `get_data` and `set_data` at a version.
//!
//! ## Reads
//!
//! Reads `sync` first, so they are linearizable. The keys' znodes are read between two reads of
//! `head` — for up to 64 keys all in one `multiRead` (ZooKeeper 3.6+), which the server answers
//! from one state: a get is two requests, `sync` and the `multiRead`, as a raw linearizable
//! read of one znode. If writes landed between the heads (a longer read), the log entries
//! between them bring the keys they touched to the second head. A range read lists the directory znodes, then the keys of
//! the directories the range can hold (its own and their ancestors'), and reads the records of
//! one page only: its cost follows the directory listed, not the store.
//!
//! ## Watches
//!
//! Watch streams read the log from their own position when `head` moves; one persistent
//! ZooKeeper watch per backend, set with its first watch stream, says when (and a read after every reconnection). Delivery is
//! exactly once and in order by construction, through server restarts and new sessions.
//!
//! ## Leases
//!
//! Leases are znodes, not ZooKeeper sessions; renewal sets the lease znode, so its mtime — the
//! ZooKeeper leader's clock — starts the new term. Every client's engine checks, every
//! `lease_check_interval`, for leases whose term may be over, reads the leader's clock (by
//! touching `clock`) when one may be, and expires it in one `multi`: the next log entry, the
//! keys, the attachments, and the lease znode at the version judged expired. Several clients
//! racing to expire a lease take one revision between them: exactly once. A lease whose owner
//! died is expired by any other client; with no client connected, by the first one to connect.
//!
//! ## Authentication
//!
//! With a user ([`ZooKeeperConfig::user`], or `zk://USER:PASSWORD@host/root`) the session
//! authenticates with ZooKeeper's `digest` scheme and every znode the store creates carries an
//! ACL for that user (all permissions) and the configured readers (read), nobody else: other
//! clients get [`Error::PermissionDenied`](kvstore_core::Error::PermissionDenied). The
//! password is never printed. With [`ZooKeeperConfig::tls`] (or `zks://…?ca=…`) every server
//! is reached over TLS, on its secure client port.
//!
//! ## Sessions
//!
//! Nothing is kept in ephemeral znodes, so the ZooKeeper session is only a connection: when it
//! expires, the next request fails with `Unavailable` and a new session is opened for the ones
//! after. Locks and elections (in `kvstore-core`) hold a lease; a client cut off from ZooKeeper
//! cannot renew it and learns it lost it when its term ends on its own clock, while other
//! clients can take over only after the leader's clock says the term ended and a client expired
//! the lease — later, unless the two clocks run at very different rates.
//!
//! ## Compaction
//!
//! [`Backend::compact`](kvstore_core::Backend::compact) moves `compacted`, then deletes the
//! older log entries, the values their events replaced, and the values of writes interrupted
//! between writing their values and their `multi` (the `values` module says how they are
//! recognised). The engine compacts as writes go on, keeping [`ZooKeeperConfig::retain`]
//! revisions ([`DEFAULT_RETAIN`]).

mod append;
mod compact;
mod config;
mod connection;
mod error;
mod fetch;
mod heads;
mod inner;
mod layout;
mod leases;
mod log;
mod records;
mod snapshot;
mod storage;
mod tls;
mod values;

use std::sync::Arc;

use kvstore_core::engine::{EngineBacked, LogBackend, Options};
use kvstore_core::Result;
use zookeeper_client as zk;

pub use config::{ZooKeeperConfig, DEFAULT_RETAIN, DEFAULT_ROOT};
pub use storage::ZooKeeperStorage;
/// The ZooKeeper client this backend is built on, for code that also talks to ZooKeeper
/// directly (the benchmarks compare against it).
pub use zookeeper_client;

use crate::connection::Connection;
use crate::inner::Inner;
use crate::layout::{parse_dir_name, LAYOUT_VERSION, PREVIOUS_LAYOUT};
use crate::records::encode_counter;

/// The ZooKeeper backend. Clones share one session.
#[derive(Clone)]
pub struct ZooKeeperBackend {
    engine: LogBackend<ZooKeeperStorage>,
}

impl std::fmt::Debug for ZooKeeperBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ZooKeeperBackend")
            .field(self.engine.storage())
            .finish()
    }
}

impl ZooKeeperBackend {
    /// Opens a session and creates the store's znodes under the root if they are missing.
    /// [`Error::Unavailable`](kvstore_core::Error::Unavailable) when no server answers within
    /// the connect timeout.
    pub async fn connect(config: ZooKeeperConfig) -> Result<ZooKeeperBackend> {
        config.validate()?;
        let conn = Connection::open(&config).await?;
        let (interval, retain) = (config.lease_check_interval, config.retain);
        let inner = Arc::new(Inner::new(conn, config));
        initialize(&inner).await?;
        let storage = ZooKeeperStorage { inner };
        let mut options = Options::default().lease_check_interval(interval);
        if let Some(revisions) = retain {
            options = options.retain(revisions);
        }
        let engine = LogBackend::with_options(storage, options);
        engine.start();
        Ok(ZooKeeperBackend { engine })
    }

    /// The configuration.
    pub fn config(&self) -> &ZooKeeperConfig {
        &self.engine.storage().inner.config
    }
}

impl EngineBacked for ZooKeeperBackend {
    type Storage = ZooKeeperStorage;
    fn engine(&self) -> &LogBackend<ZooKeeperStorage> {
        &self.engine
    }
}

/// Creates the store's znodes that are missing.
async fn initialize(inner: &Inner) -> Result<()> {
    let client = inner.conn.client();
    let mut nodes: Vec<(String, Vec<u8>)> = inner
        .layout
        .directories()
        .into_iter()
        .map(|dir| (dir, Vec::new()))
        .collect();
    nodes.push((inner.layout.head(), encode_counter(0)));
    nodes.push((inner.layout.compacted(), encode_counter(0)));
    nodes.push((inner.layout.clock(), Vec::new()));
    for (path, data) in &nodes {
        inner
            .conn
            .call("creating the store's znodes", async {
                match client.create(path, data, &inner.create_options()).await {
                    Ok(_) | Err(zk::Error::NodeExists) => Ok(()),
                    Err(err) => Err(err),
                }
            })
            .await?;
    }
    check_layout(inner).await
}

/// Checks that the store's znodes are laid out as this crate reads them (`layout`), writing
/// the layout of a store that has no key yet and marking a store of the previous layout with
/// this one. A store of the first layout (one znode per key in `keys/`, before key
/// directories) is refused, not misread.
async fn check_layout(inner: &Inner) -> Result<()> {
    let client = inner.conn.client();
    let path = inner.layout.layout_version();
    let refused = |found: &str| {
        kvstore_core::Error::Unsupported {
        what: format!(
            "the store under {} has the znode layout {found}; this kvstore-zookeeper reads layout {LAYOUT_VERSION} (copy the objects to a store under a new root)",
            inner.layout.root()
        ),
    }
    };
    let found = inner
        .conn
        .call_maybe("reading the store's layout", client.get_data(&path))
        .await?;
    match found {
        Some((data, _)) if data == LAYOUT_VERSION.as_bytes() => Ok(()),
        Some((data, stat)) if data == PREVIOUS_LAYOUT.as_bytes() => {
            let upgrade = client.set_data(&path, LAYOUT_VERSION.as_bytes(), Some(stat.version));
            inner
                .conn
                .call("marking the store's layout", async {
                    match upgrade.await {
                        // Another client marked it first.
                        Ok(_) | Err(zk::Error::BadVersion) => Ok(()),
                        Err(err) => Err(err),
                    }
                })
                .await
        }
        Some((data, _)) => Err(refused(&String::from_utf8_lossy(&data))),
        None => {
            let keys = inner
                .conn
                .call(
                    "listing keys",
                    client.list_children(&inner.layout.keys_dir()),
                )
                .await?;
            if keys.iter().any(|name| parse_dir_name(name).is_none()) {
                return Err(refused("1"));
            }
            inner
                .conn
                .call("writing the store's layout", async {
                    let data = LAYOUT_VERSION.as_bytes();
                    match client.create(&path, data, &inner.create_options()).await {
                        Ok(_) | Err(zk::Error::NodeExists) => Ok(()),
                        Err(err) => Err(err),
                    }
                })
                .await
        }
    }
}
