//! # kvstore
//!
//! Typed objects on key-value stores: every object carries [`TypeMeta`] (kind, apiVersion) and
//! [`ObjectMeta`] (name, uid, resource version, labels, timestamps...), and the [`Store`] offers
//! create / get / list / update / delete / watch with optimistic concurrency on the resource
//! version, plus leases. The same semantics hold on every backend: the in-process
//! [`MemoryBackend`] here, etcd in production.
//!
//! ## A tour
//!
//! ```
//! use kvstore::{Json, ListOptions, MemoryBackend, Object, ObjectMeta, Store, WatchOptions};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Object)]
//! #[object(kind = "User", api_version = "example.com/v1")]
//! struct User {
//!     metadata: ObjectMeta,
//!     email: String,
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = Store::new(MemoryBackend::new(), Json);
//!
//! // Key-addressed calls, like the Go libraries...
//! let alice = User { metadata: ObjectMeta::named("alice"), email: "alice@example.com".into() };
//! let alice = store.create("/users/alice", &alice).await?;
//! assert!(alice.metadata.uid.is_some());
//!
//! // ...or a typed handle that derives keys from names.
//! let users = store.collection::<User>("/users")?;
//! let mut changed = users.get("alice").await?;
//! changed.email = "alice@example.org".into();
//! let changed = users.update(&changed).await?;          // compare-and-swap
//! assert!(users.update(&alice).await.unwrap_err().is_conflict()); // stale version
//!
//! let list = users.list(&ListOptions::default()).await?;
//! assert_eq!(list.items, vec![changed]);
//!
//! let mut events = users.watch(&WatchOptions::default()).await?; // from now on
//! users.guaranteed_update("alice", |u| u.email = "a@example.net".into()).await?;
//! # use futures::StreamExt;
//! let event = events.next().await.unwrap()?;
//! assert_eq!(event.object().unwrap().email, "a@example.net");
//! # Ok::<(), kvstore::Error>(())
//! # }).unwrap();
//! ```
//!
//! ## Beyond single objects
//! - a self-healing list-then-watch stream ([`Watcher`]), a local [`Cache`] fed by it, and
//!   change events for controllers ([`Cache::events`]);
//! - coordination on leases: [`Ephemeral`] objects, fair fenced locks ([`Lock`] →
//!   [`LockGuard`]) and leader election ([`Store::contest`] → [`Election`]).
//!
//! ## Crates
//! - `kvstore-core`: object model, [`Scheme`], errors, the [`Backend`] contract, the typed
//!   [`Store`], watcher, cache, coordination, and the conformance suite;
//! - `kvstore-codec`: [`Json`], [`Protobuf`], [`Postcard`] (and `Bincode` with feature `bincode`);
//! - `kvstore-derive`: `#[derive(Object)]`;
//! - `kvstore-memory`: [`MemoryBackend`];
//! - `kvstore-etcd` (feature `etcd`): `EtcdBackend`, the production backend.
//! - `kvstore-zookeeper` (feature `zookeeper`): `ZooKeeperBackend`, etcd's model inside
//!   ZooKeeper.
//! - `kvstore-sqlite` (feature `sqlite`, on by default): `SqliteBackend`, the store in one file.
//! - `kvstore-postgres` (feature `postgres`): `PostgresBackend`, the store in PostgreSQL tables.

mod connect;

/// The README's tour, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeTour;

pub use connect::{backend, connect, connect_config, connect_config_with, connect_with};
pub use kvstore_core::registry::register;
pub use kvstore_core::*;

/// Encryption at rest (feature `encryption`): [`Encrypted`](encryption::Encrypted) around any
/// codec, its [`KeyRing`](encryption::KeyRing), and [`reencrypt`](encryption::reencrypt) for
/// key rotation.
#[cfg(feature = "encryption")]
pub use kvstore_codec::encrypted as encryption;
#[cfg(feature = "bincode")]
pub use kvstore_codec::Bincode;
pub use kvstore_codec::{AnyCodec, Json, Postcard, Protobuf};
/// `#[derive(Object)]`: makes a struct with a metadata field an object kind.
pub use kvstore_derive::Object;
pub use kvstore_memory::MemoryBackend;

/// The etcd backend (feature `etcd`).
#[cfg(feature = "etcd")]
pub use kvstore_etcd as etcd;
#[cfg(feature = "etcd")]
pub use kvstore_etcd::{EtcdBackend, EtcdConfig};
/// The PostgreSQL backend (feature `postgres`).
#[cfg(feature = "postgres")]
pub use kvstore_postgres as postgres;
#[cfg(feature = "postgres")]
pub use kvstore_postgres::{PostgresBackend, PostgresConfig};
/// The SQLite backend (feature `sqlite`, on by default).
#[cfg(feature = "sqlite")]
pub use kvstore_sqlite as sqlite;
#[cfg(feature = "sqlite")]
pub use kvstore_sqlite::{SqliteBackend, SqliteConfig};
/// The ZooKeeper backend (feature `zookeeper`).
#[cfg(feature = "zookeeper")]
pub use kvstore_zookeeper as zookeeper;
#[cfg(feature = "zookeeper")]
pub use kvstore_zookeeper::{ZooKeeperBackend, ZooKeeperConfig};

/// A store on a fresh in-process backend with the JSON codec: the quickest way to start.
pub fn in_memory() -> Store<Json> {
    Store::new(MemoryBackend::new(), Json)
}
