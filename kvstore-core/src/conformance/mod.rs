//! The backend conformance suite: one plain async function per behaviour of the store, run
//! unchanged against every backend.
//!
//! A backend crate proves itself with [`conformance_suite!`](crate::conformance_suite), which
//! expands to one test per case. The factory receives the case's [`Isolation`] and returns a
//! [`Fixture`]; every case works under its own random key prefix, so cases can share one
//! server, except those that compact history (a store-wide operation), which ask for an
//! [`Isolation::Exclusive`] store.
//!
//! Each file of the suite lists its own cases beside their functions (a `__conformance_*_cases`
//! macro at its end); adding a case touches only its file.
//!
//! The memory backend's run (`kvstore-memory/tests/conformance.rs`) is:
//!
//! ```text
//! kvstore_core::conformance_suite!(
//!     #[tokio::test(start_paused = true)]
//!     |_isolation| async {
//!         kvstore_core::conformance::Fixture::new(
//!             kvstore_core::Store::new(kvstore_memory::MemoryBackend::new(), kvstore_codec::Json))
//!     }
//! );
//! ```

mod cache;
mod close;
mod consistent;
mod crud;
mod election;
mod ephemeral;
mod faults;
mod leases;
mod list;
mod locks;
mod rmw;
mod selectors;
mod transactions;
mod validation;
mod versions;
mod watch;

use std::any::Any;
use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::codec::CodecFor;
use crate::meta::ObjectMeta;
use crate::object::Object;
use crate::store::{Store, WatchEvent, WatchStream};

pub use cache::*;
pub use close::*;
pub use consistent::*;
pub use crud::*;
pub use election::*;
pub use ephemeral::*;
pub use faults::Partition;
pub use leases::*;
pub use list::*;
pub use locks::*;
pub use rmw::*;
pub use selectors::*;
pub use transactions::*;
pub use validation::*;
pub use versions::*;
pub use watch::*;

/// Whether a case may share its store with other cases running at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// The case only touches keys under its own prefix.
    Shared,
    /// The case compacts history, which affects every key: give it a store of its own.
    Exclusive,
}

/// A store for one case, and whatever must live as long as it (a server process...).
pub struct Fixture<C> {
    /// The store under test.
    pub store: Store<C>,
    _guard: Box<dyn Any + Send>,
}

impl<C> Fixture<C> {
    /// A fixture with nothing else to keep alive.
    pub fn new(store: Store<C>) -> Self {
        Self::with_guard(store, ())
    }
    /// A fixture keeping `guard` alive until the case ends.
    pub fn with_guard(store: Store<C>, guard: impl Any + Send) -> Self {
        Fixture {
            store,
            _guard: Box::new(guard),
        }
    }
}

/// The kinds every codec under test must handle.
pub trait TestCodec: CodecFor<Widget> + CodecFor<WidgetV2> + CodecFor<Gadget> {}
impl<C: CodecFor<Widget> + CodecFor<WidgetV2> + CodecFor<Gadget>> TestCodec for C {}

/// The main kind of the suite.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Widget {
    /// The object's metadata.
    pub metadata: ObjectMeta,
    /// A field the cases change.
    pub color: String,
    /// A counter for read-modify-write cases.
    pub count: u64,
}

impl Object for Widget {
    const KIND: &'static str = "Widget";
    const API_VERSION: &'static str = "conformance.kvstore/v1";
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn field(&self, name: &str) -> Option<String> {
        (name == "color").then(|| self.color.clone())
    }
}

/// A second kind, for kind-mismatch cases.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Gadget {
    /// The object's metadata.
    pub metadata: ObjectMeta,
    /// A number, so the kind differs in shape from a `Widget`.
    pub size: u32,
}

impl Object for Gadget {
    const KIND: &'static str = "Gadget";
    const API_VERSION: &'static str = "conformance.kvstore/v1";
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// A widget named `name` of `color`.
pub fn widget(name: &str, color: &str) -> Widget {
    Widget {
        metadata: ObjectMeta::named(name),
        color: color.to_owned(),
        count: 0,
    }
}

/// A cache of the widgets under `prefix`, once it has listed them (bounded wait).
pub async fn synced_cache<C: TestCodec>(store: &Store<C>, prefix: &str) -> crate::Cache<Widget> {
    let cache = crate::Cache::<Widget>::new(store, prefix).unwrap();
    tokio::time::timeout(EVENT_TIMEOUT, cache.wait_until_synced())
        .await
        .expect("synced");
    cache
}

/// A fresh key prefix for one case.
pub fn unique_prefix() -> String {
    format!("/conformance/{}", uuid::Uuid::new_v4().simple())
}

/// How long a case waits for an event before failing.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The next item of a watch, failing the case if none comes in [`EVENT_TIMEOUT`].
pub async fn next_event<K: Object>(stream: &mut WatchStream<K>) -> WatchEvent<K> {
    match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(err))) => panic!("watch failed: {err}"),
        Ok(None) => panic!("watch ended"),
        Err(_) => panic!("no watch event within {EVENT_TIMEOUT:?}"),
    }
}

/// The next item of a watch, which must be an error.
pub async fn next_error<K: Object + std::fmt::Debug>(stream: &mut WatchStream<K>) -> crate::Error {
    match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
        Ok(Some(Err(err))) => err,
        other => panic!("expected a watch error, got {other:?}"),
    }
}

/// Asserts no watch item arrives within a short while (real or paused time).
pub async fn assert_quiet<K: Object + std::fmt::Debug>(stream: &mut WatchStream<K>) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(300), stream.next()).await {
        panic!("unexpected watch item {item:?}");
    }
}

/// The resource version of a stored object as a number.
pub fn revision_of<K: Object>(object: &K) -> u64 {
    object
        .metadata()
        .version()
        .expect("stored objects carry a resource version")
        .revision()
}

/// How many keys (of any kind, or raw bytes) are under `prefix`.
pub async fn keys_under<C: crate::Codec>(store: &Store<C>, prefix: &str) -> usize {
    let (key, end) = crate::key::directory_range(prefix);
    store
        .backend()
        .range(crate::backend::RangeRequest {
            key,
            range_end: Some(end),
            limit: 0,
            revision: 0,
        })
        .await
        .unwrap()
        .kvs
        .len()
}

/// A put of `key` guarded by `fence`: whether it was written.
pub async fn fenced_put<C: crate::Codec>(
    store: &Store<C>,
    fence: crate::backend::Compare,
    key: &str,
) -> bool {
    use crate::backend::{PutLease, Txn, TxnOp};
    let value = bytes::Bytes::from_static(b"written by the leader");
    let txn = Txn::when([fence]).then(TxnOp::put(key, value, PutLease::Detach));
    store.backend().txn(txn).await.unwrap().succeeded
}

/// Runs a case (used by [`conformance_suite!`](crate::conformance_suite)). A factory returning
/// `None` skips the case (it should say why; under CI it should fail instead).
pub async fn run<C, F, Fut, Out, Case, CaseFut>(isolation: Isolation, factory: F, case: Case)
where
    F: FnOnce(Isolation) -> Fut,
    Fut: Future<Output = Out>,
    Out: Into<Option<Fixture<C>>>,
    Case: FnOnce(Store<C>) -> CaseFut,
    CaseFut: Future<Output = ()>,
{
    let Some(fixture) = factory(isolation).await.into() else {
        return;
    };
    case(fixture.store.clone()).await;
    drop(fixture);
}

/// Expands to one test per conformance case for a backend.
///
/// The first argument is the test attribute (e.g. `#[tokio::test]`, or
/// `#[tokio::test(start_paused = true)]` for a backend on tokio time); the second a factory
/// `FnOnce(Isolation) -> impl Future<Output = Fixture<C>>` (or `Option<Fixture<C>>`, `None`
/// skipping the case).
#[macro_export]
macro_rules! conformance_suite {
    (#[$attr:meta] $factory:expr $(,)?) => {
        $crate::__conformance_crud_cases! { #[$attr] $factory }
        $crate::__conformance_rmw_cases! { #[$attr] $factory }
        $crate::__conformance_list_cases! { #[$attr] $factory }
        $crate::__conformance_watch_cases! { #[$attr] $factory }
        $crate::__conformance_leases_cases! { #[$attr] $factory }
        $crate::__conformance_locks_cases! { #[$attr] $factory }
        $crate::__conformance_election_cases! { #[$attr] $factory }
        $crate::__conformance_ephemeral_cases! { #[$attr] $factory }
        $crate::__conformance_cache_cases! { #[$attr] $factory }
        $crate::__conformance_consistent_cases! { #[$attr] $factory }
        $crate::__conformance_validation_cases! { #[$attr] $factory }
        $crate::__conformance_transactions_cases! { #[$attr] $factory }
        $crate::__conformance_close_cases! { #[$attr] $factory }
        $crate::__conformance_selectors_cases! { #[$attr] $factory }
        $crate::__conformance_versions_cases! { #[$attr] $factory }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    (#[$attr:meta] $factory:expr; $($case:ident: $isolation:ident),* $(,)?) => {
        $(
            #[$attr]
            async fn $case() {
                $crate::conformance::run(
                    $crate::conformance::Isolation::$isolation,
                    $factory,
                    $crate::conformance::$case,
                )
                .await;
            }
        )*
    };
}
