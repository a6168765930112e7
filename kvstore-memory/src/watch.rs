//! Watch streams: each watcher reads the shared history from its own position, so writers
//! never wait for watchers and a slow watcher loses nothing until the history it still needs
//! is compacted, when it gets `Gone` and can re-list. A progress request is answered by each
//! watch once it has delivered every event up to the revision it reports.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use kvstore_core::backend::{Event, EventStream, WatchItem, WatchRequest};
use kvstore_core::{Error, Result};
use tokio::sync::watch;

use crate::Shared;

/// Events scanned per lock acquisition.
const SCAN_BUDGET: usize = 1024;

struct Cursor {
    shared: Arc<Shared>,
    request: WatchRequest,
    /// The next revision to deliver.
    next: u64,
    pending: VecDeque<Arc<Event>>,
    revisions: watch::Receiver<u64>,
    /// Progress requests; one seen and not yet answered sets `progress_wanted`.
    progress_requests: watch::Receiver<u64>,
    progress_wanted: bool,
    failed: bool,
}

/// What [`Cursor::fill`] found.
enum Filled {
    /// New events are pending.
    Advanced,
    /// Every event up to this revision (the store's) has been delivered.
    CaughtUp(u64),
}

impl Cursor {
    fn wants(&self, key: &str) -> bool {
        match &self.request.range_end {
            None => key == self.request.key,
            Some(end) => key >= self.request.key.as_str() && key < end.as_str(),
        }
    }

    /// Moves new history into `pending`.
    fn fill(&mut self) -> Result<Filled> {
        let state = self.shared.state.read();
        if self.next < state.compacted {
            return Err(Error::Gone {
                revision: self.next,
                compacted: state.compacted,
            });
        }
        if self.next > state.revision {
            return Ok(Filled::CaughtUp(state.revision));
        }
        let (events, next) = state
            .history
            .read_from(self.next, SCAN_BUDGET, |key| self.wants(key));
        let revision = state.revision;
        drop(state);
        if next == self.next {
            // No history at or after `next`: nothing up to the store's revision to deliver.
            self.next = revision + 1;
            return Ok(Filled::CaughtUp(revision));
        }
        self.pending.extend(events);
        self.next = next;
        Ok(Filled::Advanced)
    }

    async fn next_item(mut self) -> Option<(Result<WatchItem>, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((Ok(WatchItem::Event(Arc::unwrap_or_clone(event))), self));
            }
            if self.failed {
                return None;
            }
            self.revisions.borrow_and_update();
            if self.progress_requests.has_changed().unwrap_or(false) {
                self.progress_requests.borrow_and_update();
                self.progress_wanted = true;
            }
            match self.fill() {
                Ok(Filled::Advanced) => continue,
                Ok(Filled::CaughtUp(revision)) if self.progress_wanted => {
                    self.progress_wanted = false;
                    return Some((Ok(WatchItem::Progress(revision)), self));
                }
                Ok(Filled::CaughtUp(_)) => {
                    // `changed` marks what it saw as seen: a request it saw is wanted now.
                    let woken = tokio::select! {
                        changed = self.revisions.changed() => changed,
                        changed = self.progress_requests.changed() => {
                            self.progress_wanted = true;
                            changed
                        }
                    };
                    if woken.is_err() {
                        return None;
                    }
                }
                Err(err) => {
                    self.failed = true;
                    return Some((Err(err), self));
                }
            }
        }
    }
}

/// Opens a watch; a start revision before the compaction point gives `Gone` at once.
pub(crate) fn open(shared: &Arc<Shared>, request: WatchRequest) -> Result<EventStream> {
    let state = shared.state.read();
    let next = match request.start_revision {
        0 => state.revision + 1,
        r if r < state.compacted => {
            return Err(Error::Gone {
                revision: r,
                compacted: state.compacted,
            })
        }
        r => r,
    };
    drop(state);
    let cursor = Cursor {
        shared: Arc::clone(shared),
        request,
        next,
        pending: VecDeque::new(),
        revisions: shared.revisions.subscribe(),
        progress_requests: shared.progress_requests.subscribe(),
        progress_wanted: false,
        failed: false,
    };
    Ok(stream::unfold(cursor, Cursor::next_item).boxed())
}
