//! Watch streams: each watcher reads the shared history from its own position, so writers
//! never wait for watchers and a slow watcher loses nothing until the history it still needs
//! is compacted, when it gets `Gone` and can re-list.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use kvstore_core::backend::{Event, EventStream, WatchRequest};
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
    failed: bool,
}

impl Cursor {
    fn wants(&self, key: &str) -> bool {
        match &self.request.range_end {
            None => key == self.request.key,
            Some(end) => key >= self.request.key.as_str() && key < end.as_str(),
        }
    }

    /// Moves new history into `pending`; returns whether the cursor advanced.
    fn fill(&mut self) -> Result<bool> {
        let state = self.shared.state.read();
        if self.next < state.compacted {
            return Err(Error::Gone {
                revision: self.next,
                compacted: state.compacted,
            });
        }
        if self.next > state.revision {
            return Ok(false);
        }
        let (events, next) = state
            .history
            .read_from(self.next, SCAN_BUDGET, |key| self.wants(key));
        drop(state);
        self.pending.extend(events);
        let advanced = next > self.next;
        self.next = next;
        Ok(advanced)
    }

    async fn next_item(mut self) -> Option<(Result<Event>, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((Ok(Arc::unwrap_or_clone(event)), self));
            }
            if self.failed {
                return None;
            }
            self.revisions.borrow_and_update();
            match self.fill() {
                Ok(true) => continue,
                Ok(false) => {
                    if self.revisions.changed().await.is_err() {
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
        failed: false,
    };
    Ok(stream::unfold(cursor, Cursor::next_item).boxed())
}
