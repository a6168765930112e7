//! # kvstore-core
//!
//! The vocabulary and the semantics of kvstore: the object model ([`Object`], [`ObjectMeta`],
//! [`TypeMeta`]), the [`Scheme`] of registered kinds, the [`Codec`] contract, the byte-level
//! [`Backend`] contract, and the typed [`Store`] written once on top of it.
//!
//! Most users depend on the `kvstore` facade crate, which re-exports all of this together with
//! codecs, the derive macro and the in-memory backend. Backend authors depend on this crate
//! alone and prove their backend with the conformance suite (feature `conformance`).
//!
//! ## Semantics, on every backend
//! - A resource version is the store's global revision of the object's last write.
//! - `create` fails with [`Error::AlreadyExists`]; `update` is a compare-and-swap on the
//!   resource version ([`Error::Conflict`] carries the current one); an unconditional write is
//!   asked for by name ([`Store::update_unconditionally`]).
//! - A prefix is a directory: `/users` covers `/users/...`, never `/users2`.
//! - Lists are consistent snapshots, paginated with continue tokens read at one revision.
//! - Watches deliver every change after a resource version exactly once, in order, or fail with
//!   [`Error::Gone`] when that history was compacted.
//! - Bad keys, wrong kinds and corrupt bytes are typed errors naming the key, never panics.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod backend;
pub mod cache;
pub mod codec;
pub mod coordination;
mod error;
mod keep_alive;
pub mod key;
mod meta;
#[cfg(feature = "prost")]
mod meta_prost;
mod object;
mod scheme;
mod selector;
mod store;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use backend::{Backend, Lease, LeaseId};
pub use cache::{Cache, CacheEvent, CacheEvents, Watcher, WatcherConfig, WatcherEvent};
pub use codec::{Codec, CodecError, Encode};
pub use coordination::{Contest, ContestEvent, Ephemeral, LockGuard, MIN_TTL};
pub use error::{BoxError, Error, Result};
pub use keep_alive::{KeepAlive, LeaseState};
pub use meta::{ListMeta, ObjectMeta, TypeMeta};
pub use object::{Object, ObjectList};
pub use scheme::{DynObject, Scheme};
pub use selector::{LabelSelector, Requirement};
pub use store::{
    Collection, ListOptions, Preconditions, Store, WatchEvent, WatchFrom, WatchStream,
    DEFAULT_MAX_UPDATE_ATTEMPTS,
};
