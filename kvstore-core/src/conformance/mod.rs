//! The backend conformance suite: one plain async function per behaviour of the store, run
//! unchanged against every backend.
//!
//! A backend crate proves itself with [`conformance_suite!`](crate::conformance_suite), which
//! expands to one test per case. The factory receives the case's [`Isolation`] and returns a
//! [`Fixture`]; every case works under its own random key prefix, so cases can share one
//! server, except those that compact history (a store-wide operation), which ask for an
//! [`Isolation::Exclusive`] store.
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
mod crud;
mod election;
mod ephemeral;
mod faults;
mod leases;
mod list;
mod locks;
mod rmw;
mod validation;
mod watch;

use std::any::Any;
use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::codec::Encode;
use crate::meta::ObjectMeta;
use crate::object::Object;
use crate::store::{Store, WatchEvent, WatchStream};

pub use cache::*;
pub use crud::*;
pub use election::*;
pub use ephemeral::*;
pub use faults::Partition;
pub use leases::*;
pub use list::*;
pub use locks::*;
pub use rmw::*;
pub use validation::*;
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
pub trait TestCodec: Encode<Widget> + Encode<Gadget> {}
impl<C: Encode<Widget> + Encode<Gadget>> TestCodec for C {}

/// The main kind of the suite.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Widget {
    /// Metadata.
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
}

/// A second kind, for kind-mismatch cases.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Gadget {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// A field.
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
    let rv = object
        .metadata()
        .resource_version
        .as_deref()
        .expect("stored objects carry a resource version");
    rv.parse()
        .expect("resource versions of these backends are numbers")
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
    let txn = crate::backend::Txn {
        compare: vec![fence],
        success: vec![crate::backend::TxnOp::Put {
            key: key.to_owned(),
            value: bytes::Bytes::from_static(b"written by the leader"),
            lease: crate::backend::PutLease::Detach,
        }],
        failure: vec![],
    };
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
        $crate::__conformance_cases! { #[$attr] $factory;
            create_then_get: Shared,
            create_existing_is_already_exists: Shared,
            create_with_resource_version_is_rejected: Shared,
            create_sets_uid_and_timestamp: Shared,
            get_missing_is_not_found: Shared,
            resource_versions_increase_across_keys: Shared,
            update_with_current_version_succeeds: Shared,
            update_with_stale_version_conflicts: Shared,
            update_missing_key_is_not_found: Shared,
            update_without_version_is_rejected: Shared,
            update_unconditionally_overwrites: Shared,
            delete_returns_object_at_delete_revision: Shared,
            delete_missing_is_not_found: Shared,
            delete_checks_preconditions: Shared,
            delete_at_read_version: Shared,
            delete_of_another_kind_keeps_it: Shared,
            delete_prefix_is_a_directory: Shared,
            collection_addresses_objects_by_name: Shared,
            dynamic_reads_decode_through_the_scheme: Shared,
            guaranteed_update_applies_and_skips_unchanged_writes: Shared,
            guaranteed_update_abort_writes_nothing: Shared,
            concurrent_guaranteed_updates_add_up: Shared,
            list_is_ordered_with_store_revision: Shared,
            list_missing_prefix_is_empty: Shared,
            list_prefix_excludes_siblings: Shared,
            list_pages_read_one_snapshot: Shared,
            list_invalid_continue_token_is_rejected: Shared,
            list_filters_by_label_selector: Shared,
            list_reports_corrupt_item: Shared,
            list_continue_after_compaction_is_gone: Exclusive,
            watch_delivers_every_change_in_order: Shared,
            watch_from_version_is_exclusive: Shared,
            watch_resumes_after_drop: Shared,
            watch_with_initial_state: Shared,
            watch_deleted_event_carries_last_object: Shared,
            watch_prefix_excludes_siblings: Shared,
            watch_single_key: Shared,
            watch_slow_consumer_loses_nothing: Shared,
            concurrent_watches_each_start_where_asked: Shared,
            unread_watch_holds_back_no_other: Shared,
            watch_reports_undecodable_values: Shared,
            watch_from_compacted_version_is_gone: Exclusive,
            ttl_expiry_deletes_and_notifies: Shared,
            keep_alive_keeps_key: Shared,
            revoke_deletes_at_once: Shared,
            update_keeps_the_lease: Shared,
            dead_lease_is_rejected: Shared,
            background_keep_alive_keeps_key_and_reports_loss: Shared,
            dropped_keep_alive_lets_key_expire: Shared,
            lock_sections_never_overlap: Shared,
            lock_is_first_come_first_served: Shared,
            try_lock_and_unlock_rules: Shared,
            deposed_holder_is_told_and_fenced: Shared,
            contest_elects_exactly_one: Shared,
            contest_resign_elects_another: Shared,
            contest_fails_over_when_leader_is_cut_off: Shared,
            contest_deposed_leader_is_fenced: Shared,
            contest_restart_with_same_id_does_not_flap: Shared,
            contests_are_independent: Shared,
            contest_rejects_unsafe_arguments: Shared,
            ephemeral_set_renew_destroy: Shared,
            ephemeral_key_vanishes_after_owner_stops: Shared,
            ephemeral_owner_is_told_of_loss: Shared,
            cache_converges_after_mixed_writes: Shared,
            watcher_delivers_each_change_once_in_order: Shared,
            cache_relists_after_compaction_while_writes_continue: Exclusive,
            cache_serves_reads_and_own_writes: Shared,
            cache_events_report_changes: Shared,
            invalid_keys_are_rejected_everywhere: Shared,
            corrupt_bytes_name_the_key: Shared,
            other_kind_is_a_kind_mismatch: Shared,
        }
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
