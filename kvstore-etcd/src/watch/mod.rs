//! Watches: resumable etcd watches ([`resumable`]), shared by the local watchers of a range
//! ([`hub`], [`feed`], [`subscription`]) so that etcd sends each change once per client
//! rather than once per watcher.

pub(crate) mod feed;
pub(crate) mod hub;
pub(crate) mod resumable;
pub(crate) mod subscription;

pub(crate) use hub::{Hub, Start};
pub(crate) use resumable::{open, Target};
