//! The feeds of one backend, by watched range: a watch joins a feed of its range when one can
//! serve its start revision, and opens a new feed otherwise.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use kvstore_core::backend::EventStream;
use kvstore_core::Result;

use super::feed::{Feed, Membership};
use super::resumable::{Cursor, Target};
use super::subscription;

/// A watched range: first key and end.
type Range = (String, Option<String>);

/// Shared etcd watches, by range.
pub(crate) struct Hub {
    feeds: Mutex<HashMap<Range, Vec<Arc<Feed>>>>,
    /// Responses a member may leave unread before it is moved onto a watch of its own.
    buffer: usize,
}

/// Where a watch starts.
pub(crate) enum Start {
    /// At this revision.
    At(u64),
    /// After the store's current revision.
    Now,
}

impl Hub {
    pub fn new(buffer: usize) -> Self {
        Hub {
            feeds: Mutex::new(HashMap::new()),
            buffer,
        }
    }

    /// A watch of `range` from `start`, on a shared feed. `current` reads the store's
    /// revision, needed to join a feed from `Start::Now`.
    pub async fn watch<F>(
        &self,
        target: Target,
        range: Range,
        start: Start,
        current: impl FnOnce() -> F,
    ) -> Result<EventStream>
    where
        F: std::future::Future<Output = Result<u64>>,
    {
        let from = match start {
            Start::At(revision) => revision,
            Start::Now if self.has_feed(&range) => current().await? + 1,
            // Nothing to join: etcd tells the start revision when it confirms the watch.
            Start::Now => 0,
        };
        if from > 0 {
            if let Some(membership) = self.join(&range, from) {
                return Ok(subscription::stream(membership, from, target));
            }
        }
        let cursor = Cursor::open(target.clone(), from).await?;
        let from = cursor.next_revision();
        let (feed, membership) = Feed::start(cursor, from, self.buffer);
        let mut feeds = self.lock();
        feeds.retain(|_, list| {
            list.retain(|f| !f.is_closed());
            !list.is_empty()
        });
        feeds.entry(range).or_default().push(feed);
        drop(feeds);
        Ok(subscription::stream(membership, from, target))
    }

    fn has_feed(&self, range: &Range) -> bool {
        self.lock()
            .get(range)
            .is_some_and(|list| list.iter().any(|f| !f.is_closed()))
    }

    fn join(&self, range: &Range, from: u64) -> Option<Membership> {
        let feeds = self.lock();
        feeds
            .get(range)?
            .iter()
            .find_map(|feed| feed.join(from, self.buffer))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Range, Vec<Arc<Feed>>>> {
        // Every change under the lock leaves the map consistent.
        self.feeds.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
