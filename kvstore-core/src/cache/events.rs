//! Change notifications derived from a [`Cache`](super::Cache), for controllers.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

/// A change to the cached state, in the words of [`EventType`](crate::EventType).
#[derive(Debug)]
pub enum CacheEvent<K> {
    /// An object appeared (also: every object present when the subscription starts).
    Added(Arc<K>),
    /// An object changed.
    Modified {
        /// As it was.
        old: Arc<K>,
        /// As it is now.
        new: Arc<K>,
    },
    /// An object went away; as it was last seen.
    Deleted(Arc<K>),
}

impl<K> Clone for CacheEvent<K> {
    fn clone(&self) -> Self {
        match self {
            CacheEvent::Added(object) => CacheEvent::Added(Arc::clone(object)),
            CacheEvent::Modified { old, new } => CacheEvent::Modified {
                old: Arc::clone(old),
                new: Arc::clone(new),
            },
            CacheEvent::Deleted(object) => CacheEvent::Deleted(Arc::clone(object)),
        }
    }
}

/// A stream of [`CacheEvent`]s from [`Cache::events`](super::Cache::events). It never makes
/// the cache wait: events queue up for a slow reader. It ends when the cache stops.
#[derive(Debug)]
pub struct CacheEvents<K> {
    pub(crate) receiver: mpsc::UnboundedReceiver<CacheEvent<K>>,
}

impl<K> Stream for CacheEvents<K> {
    type Item = CacheEvent<K>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx)
    }
}
