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
    ranges: Mutex<HashMap<Range, RangeFeeds>>,
    /// Responses a member may leave unread before it is moved onto a watch of its own.
    buffer: usize,
}

/// The feeds of one range.
#[derive(Default)]
struct RangeFeeds {
    feeds: Vec<Arc<Feed>>,
    /// Held while a feed of the range is being opened, so that watches started together
    /// open one feed and join it rather than open one each.
    opening: Arc<tokio::sync::Mutex<()>>,
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
            ranges: Mutex::new(HashMap::new()),
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
        current: impl Fn() -> F,
    ) -> Result<EventStream>
    where
        F: std::future::Future<Output = Result<u64>>,
    {
        if let Some((membership, from)) = self.try_join(&range, &start, &current).await? {
            return Ok(subscription::stream(membership, from, target));
        }
        let opening = Arc::clone(&self.lock().entry(range.clone()).or_default().opening);
        let _opening = opening.lock().await;
        // Another watch may have opened a feed while this one waited.
        if let Some((membership, from)) = self.try_join(&range, &start, &current).await? {
            return Ok(subscription::stream(membership, from, target));
        }
        let from = match start {
            Start::At(revision) => revision,
            // etcd tells the start revision when it confirms the watch.
            Start::Now => 0,
        };
        let cursor = Cursor::open(target.clone(), from).await?;
        let from = cursor.next_revision();
        let (feed, membership) = Feed::start(cursor, from, self.buffer);
        let mut ranges = self.lock();
        ranges.retain(|_, feeds| {
            feeds.feeds.retain(|f| !f.is_closed());
            !feeds.feeds.is_empty() || Arc::strong_count(&feeds.opening) > 1
        });
        ranges.entry(range).or_default().feeds.push(feed);
        drop(ranges);
        Ok(subscription::stream(membership, from, target))
    }

    /// Joins a live feed of `range` that can serve `start`, if there is one.
    async fn try_join<F>(
        &self,
        range: &Range,
        start: &Start,
        current: impl Fn() -> F,
    ) -> Result<Option<(Membership, u64)>>
    where
        F: std::future::Future<Output = Result<u64>>,
    {
        let from = match start {
            Start::At(revision) => *revision,
            Start::Now if self.has_feed(range) => current().await? + 1,
            Start::Now => return Ok(None),
        };
        let ranges = self.lock();
        let Some(feeds) = ranges.get(range) else {
            return Ok(None);
        };
        Ok(feeds
            .feeds
            .iter()
            .find_map(|feed| feed.join(from, self.buffer))
            .map(|membership| (membership, from)))
    }

    fn has_feed(&self, range: &Range) -> bool {
        self.lock()
            .get(range)
            .is_some_and(|feeds| feeds.feeds.iter().any(|f| !f.is_closed()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Range, RangeFeeds>> {
        // Every change under the lock leaves the map consistent.
        self.ranges.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
