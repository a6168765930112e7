//! # kvstore-core
//!
//! The vocabulary and the semantics of kvstore, written once: the object model, the byte-level
//! backend contract, and the typed store, watcher, cache and coordination built on it.
//!
//! Most users depend on the `kvstore` facade crate, which re-exports all of this together with
//! codecs, the derive macro and the in-memory backend. Backend authors depend on this crate
//! alone and prove their backend with the conformance suite (feature `conformance`).
//!
//! ## Crate map
//!
//! Each concept has one home; its explanation is that item's documentation.
//!
//! | module | concept |
//! |---|---|
//! | [`meta`](ObjectMeta), `object`, [`scheme`](Scheme) | the object model: [`TypeMeta`], [`ObjectMeta`] (and the identity rule), [`Object`], [`ObjectList`]; a [`Scheme`] decodes values of registered kinds |
//! | [`key`] | the key rules ([`key::validate_key`]) and prefixes as directories |
//! | `selector`, `field_selector`, `store::selection` | [`LabelSelector`], [`FieldSelector`], and [`Selection`] (both together), which every list, watch, watcher and cache selects with |
//! | `resource_version`, `event_type` | [`ResourceVersion`] (a store revision, as every API takes and returns it); [`EventType`] (added, modified, deleted: the one vocabulary of change) |
//! | `error` | [`Error`], one enum named by what happened, its predicates and [`Error::is_retryable`]; [`CodecError`] |
//! | [`codec`] | the codec contract: [`Codec`], [`CodecFor<K>`](CodecFor) |
//! | `lease` | [`LeaseId`], [`Lease`] |
//! | [`config`], [`registry`] | [`StoreConfig`]: which store, from a URL or a config file, its hosts ([`config::Endpoint`]) and the built-in schemes ([`config::BUILT_IN`]); the backends by scheme |
//! | [`backend`] | the byte-level contract every backend implements ([`Backend`]): ranges, transactions with small builders ([`backend::Txn::when`]), watches of [`backend::WatchItem`]s (changes and progress), leases; what a backend can do ([`backend::Capabilities`]); every key under a namespace ([`backend::Namespaced`]) |
//! | `store` | the typed [`Store`]: create / get / list / update / delete / watch, options ([`CreateOptions`], [`ListOptions`], [`Preconditions`], [`WatchFrom`], [`WatchOptions`]), [`Collection`]; keyed lists and watches ([`KeyedEvent`]) and [`OnClose`], for runtime built on the store |
//! | `watcher` | [`Watcher`]: list-then-watch that resumes (from its bookmarks too) and re-lists; shaped with [`Watcher::shape`] |
//! | [`cache`] | [`Cache`] fed by a watcher, its indexes, consistent reads and [`CacheEvents`] |
//! | [`coordination`] | [`Session`], [`Ephemeral`], [`Lock`], [`Election`], [`Observer`] — and the algorithm they share |
//! | [`engine`] (feature) | the log engine: the backend contract built once over a [`engine::Storage`] (keys, a log of commits, leases), for stores without revisions of their own |
//! | `backoff` | the one exponential backoff of every retry loop |
//! | [`metrics`] | what the store reports through the `metrics` facade, in one table |
//! | [`conformance`] (feature) | the suite every backend passes unchanged; each file lists its own cases |
//!
//! Arrows inside the crate go one way (`scripts/check-module-cycles` checks it): the object
//! model and errors at the bottom, then codecs and the backend contract, then the store, then
//! watcher, cache and coordination, which are built from a `&Store` (or a [`Collection`]) and
//! use only its public API.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod backend;
mod backoff;
pub mod cache;
pub mod codec;
pub mod config;
pub mod coordination;
mod error;
mod event_type;
mod field_selector;
pub mod key;
mod lease;
mod meta;
#[cfg(feature = "prost")]
mod meta_prost;
pub mod metrics;
mod object;
pub mod registry;
mod resource_version;
mod scheme;
mod selector;
mod store;
#[cfg(test)]
mod test_kind;
mod watcher;

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "engine")]
pub mod engine;

pub use backend::Backend;
pub use cache::{Cache, CacheEvent, CacheEvents, CacheProgress};
pub use codec::{Codec, CodecFor};
pub use config::{Secret, StoreConfig, TlsFiles};
pub use coordination::{
    Election, ElectionEvent, Ephemeral, LeaseLoss, LeaseState, Lock, LockGuard, LossReason,
    Observer, Session, MIN_TTL,
};
pub use error::{BoxError, CodecError, Error, Result};
pub use event_type::EventType;
pub use field_selector::{FieldRequirement, FieldSelector};
pub use lease::{Lease, LeaseId, LeaseInfo};
pub use meta::{Identity, ListMeta, ObjectMeta, TypeMeta};
pub use object::{Object, ObjectList};
pub use resource_version::{InvalidResourceVersion, ResourceVersion};
pub use scheme::{DynObject, Scheme, SchemeError, Versions, LOSSY_CONVERSION_ANNOTATION};
pub use selector::{LabelSelector, Requirement};
pub use store::{
    default_prefix, Collection, CreateOptions, KeyedEvent, KeyedWatchStream, ListOptions,
    MigrateOptions, MigrationProgress, OnClose, Preconditions, RevokeOnClose, Selection, Store,
    StoredVersions, Transaction, TxnConflict, TxnOutcome, WatchEvent, WatchFrom, WatchOptions,
    WatchStream, DEFAULT_MAX_UPDATE_ATTEMPTS, DEFAULT_MAX_VALUE_SIZE, MAX_TXN_OPS,
};
pub use watcher::{Watcher, WatcherConfig, WatcherEvent};
