//! # kvstore-etcd
//!
//! The production backend of kvstore, on the `etcd-client` crate. It implements the byte-level
//! [`Backend`](kvstore_core::Backend) contract with etcd's own primitives and passes the same
//! conformance suite as the in-memory backend:
//!
//! - create: a transaction comparing `create_revision == 0`; compare-and-swap: a transaction
//!   on `mod_revision == N` that reads the current value when it fails — one round trip each;
//! - lists: ranged reads with limit, every page at one revision;
//! - watches: exclusive start points, `prev_kv` so deletes carry the last value, resumed after
//!   a broken stream from the last delivered revision + 1 (nothing lost, nothing repeated), a
//!   compacted resume point reported as `Gone`, a dead server reported as `Unavailable` after
//!   the reconnect timeout; watches of one range share one etcd watch
//!   ([`EtcdConfig::share_watches`]), so etcd sends each change once per client; progress
//!   requests answer [`Backend::request_progress`](kvstore_core::Backend::request_progress) on
//!   etcd releases that order them with events ([`ProgressRequests`]);
//! - concurrent writes may share requests ([`EtcdConfig::batch_writes`]), as nested
//!   transactions that each keep their own compares;
//! - leases with TTLs in whole seconds; keep-alive and revoke;
//! - every request bounded by the request timeout: a dead server is an error, never a hang.
//!
//! ```no_run
//! use kvstore_core::Store;
//! use kvstore_etcd::{EtcdBackend, EtcdConfig};
//!
//! # async fn demo<C: kvstore_core::Codec>(codec: C) -> kvstore_core::Result<()> {
//! let backend = EtcdBackend::connect(EtcdConfig::new(["http://127.0.0.1:2379"]).namespace("/app")).await?;
//! let store = Store::new(backend, codec);
//! # Ok(()) }
//! ```

mod backend;
mod batch;
mod clients;
mod config;
mod error;
mod keys;
mod progress;
mod tls_diagnosis;
mod txn;
mod watch;

pub use backend::EtcdBackend;
pub use config::{EtcdConfig, ProgressRequests};
/// The `etcd-client` crate this backend is built on (same version), for raw comparisons.
pub use etcd_client;
