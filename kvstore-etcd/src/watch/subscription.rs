//! One watcher's stream of events: from a shared feed while it keeps up, from a watch of its
//! own after the feed let it go.

use std::sync::Arc;

use futures::stream::{self, StreamExt};
use kvstore_core::backend::{EventStream, WatchItem};
use kvstore_core::{Error, Result};

use super::feed::{revision_of, Batch, Membership};
use super::resumable::{self, Cursor, Target};

enum Source {
    Shared(Membership),
    Own(EventStream),
    Done,
}

struct Subscription {
    source: Source,
    /// The next revision to deliver; what the feed sends before it is skipped.
    next: u64,
    /// The batch being delivered and the index of its next event.
    batch: Option<(Batch, usize)>,
    /// Where to watch on its own when the feed lets it go.
    target: Target,
}

/// The items from revision `from` on, received through `membership`.
pub(crate) fn stream(membership: Membership, from: u64, target: Target) -> EventStream {
    let subscription = Subscription {
        source: Source::Shared(membership),
        next: from,
        batch: None,
        target,
    };
    stream::unfold(subscription, Subscription::next_item).boxed()
}

impl Subscription {
    /// The next item of the current batch at or after `next` (a progress item: at or after
    /// `next - 1`); at the batch's end `next` moves past its revision.
    fn next_in_batch(&mut self) -> Option<WatchItem> {
        let (batch, index) = self.batch.as_mut()?;
        while let Some(item) = batch.get(*index) {
            *index += 1;
            if revision_of(item) + u64::from(matches!(item, WatchItem::Progress(_))) >= self.next {
                return Some(item.clone());
            }
        }
        if let Some(last) = batch.last() {
            self.next = self.next.max(revision_of(last) + 1);
        }
        self.batch = None;
        None
    }

    async fn next_item(mut self) -> Option<(Result<WatchItem>, Self)> {
        loop {
            if let Some(item) = self.next_in_batch() {
                return Some((Ok(item), self));
            }
            match &mut self.source {
                Source::Shared(membership) => match membership.recv().await {
                    Some(Ok(batch)) => self.batch = Some((batch, 0)),
                    Some(Err(err)) => {
                        self.source = Source::Done;
                        let err = replicate(&err, self.next);
                        return Some((Err(err), self));
                    }
                    None => {
                        tracing::debug!(next = self.next, "etcd watch continues on its own");
                        let cursor = Cursor::resume(self.target.clone(), self.next);
                        self.source = Source::Own(resumable::stream(cursor));
                    }
                },
                Source::Own(events) => return events.next().await.map(|item| (item, self)),
                Source::Done => return None,
            }
        }
    }
}

/// This member's copy of the error that ended a feed; its source is the original's source.
fn replicate(err: &Arc<Error>, next: u64) -> Error {
    let source = || {
        std::error::Error::source(&**err)
            .map(|_| Box::new(SharedSource(Arc::clone(err))) as kvstore_core::BoxError)
    };
    match &**err {
        Error::Gone { compacted, .. } => Error::Gone {
            revision: next,
            compacted: *compacted,
        },
        Error::Unavailable { message, .. } => Error::Unavailable {
            message: message.clone(),
            source: source(),
        },
        other => Error::Backend {
            message: other.to_string(),
            source: source(),
        },
    }
}

/// The source of an error shared by the members of a feed (which has one).
#[derive(Debug)]
struct SharedSource(Arc<Error>);

impl SharedSource {
    fn inner(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}

impl std::fmt::Display for SharedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.inner() {
            Some(inner) => std::fmt::Display::fmt(inner, f),
            None => Ok(()),
        }
    }
}

impl std::error::Error for SharedSource {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner().and_then(std::error::Error::source)
    }
}
