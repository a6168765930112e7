//! Watches read the log. Each stream keeps its own position and reads the commits after it,
//! in order, when the head moves; so a watch from a past revision replays what it missed, a
//! stream never skips or repeats a commit, and a slow reader delays no one (writers never wait
//! for watchers). A start point before the compaction point gives `Gone`, at once or when the
//! stream falls behind it. A progress request is answered by each stream once it has read the
//! log up to the head read when the request was made.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use tokio::sync::watch;

use super::heads::Heads;
use super::storage::Storage;
use super::Inner;
use crate::backend::{Event, EventStream, WatchItem, WatchRequest};
use crate::backoff::Backoff;
use crate::error::{Error, Result};

/// Revisions read from the log at once.
const READ_BATCH: u64 = 256;

/// How long a stream keeps trying to read the log while the store is unreachable.
const READ_RETRY: Duration = Duration::from_secs(30);

/// Opens a watch.
pub(crate) async fn open<S: Storage>(
    inner: &Arc<Inner<S>>,
    request: WatchRequest,
) -> Result<EventStream> {
    Heads::start(inner);
    let head = inner.storage.head().await?;
    inner.heads.learn(head.revision);
    let next = match request.start_revision {
        0 => head.revision + 1,
        r if r < head.compacted => {
            return Err(Error::Gone {
                revision: r,
                compacted: head.compacted,
            })
        }
        r => r,
    };
    let mut progress = inner.progress.subscribe();
    progress.borrow_and_update();
    let cursor = Cursor {
        inner: Arc::clone(inner),
        heads: inner.heads.subscribe(),
        progress,
        progress_wanted: None,
        request,
        next,
        pending: VecDeque::new(),
        failed: false,
    };
    Ok(stream::unfold(cursor, Cursor::next_item).boxed())
}

struct Cursor<S> {
    inner: Arc<Inner<S>>,
    heads: watch::Receiver<u64>,
    /// The revision the latest progress request must be answered at or after.
    progress: watch::Receiver<u64>,
    progress_wanted: Option<u64>,
    request: WatchRequest,
    /// The next revision to read.
    next: u64,
    pending: VecDeque<Event>,
    failed: bool,
}

impl<S: Storage> Cursor<S> {
    fn wants(&self, key: &str) -> bool {
        match &self.request.range_end {
            None => key == self.request.key,
            Some(end) => key >= self.request.key.as_str() && key < end.as_str(),
        }
    }

    async fn next_item(mut self) -> Option<(Result<WatchItem>, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((Ok(WatchItem::Event(event)), self));
            }
            if self.failed {
                return None;
            }
            if self.progress.has_changed().unwrap_or(false) {
                self.progress_wanted = Some(*self.progress.borrow_and_update());
            }
            let head = *self.heads.borrow_and_update();
            if self.next <= head {
                if let Err(err) = self.read_until(head).await {
                    self.failed = true;
                    return Some((Err(err), self));
                }
                continue;
            }
            if let Some(wanted) = self.progress_wanted {
                if self.next > wanted {
                    self.progress_wanted = None;
                    return Some((Ok(WatchItem::Progress(self.next - 1)), self));
                }
            }
            let woken = tokio::select! {
                changed = self.heads.changed() => changed,
                changed = self.progress.changed() => {
                    self.progress_wanted = Some(*self.progress.borrow_and_update());
                    changed
                }
            };
            if woken.is_err() {
                return None;
            }
        }
    }

    /// Reads the commits up to `head` (a batch at a time) into `pending`, retrying while the
    /// store is unreachable.
    async fn read_until(&mut self, head: u64) -> Result<()> {
        let end = head.min(self.next + READ_BATCH - 1);
        let started = tokio::time::Instant::now();
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
        loop {
            match self.inner.storage.log(self.next, end).await {
                Ok(commits) => {
                    for commit in commits {
                        for event in &commit.events {
                            if self.wants(&event.kv.key) {
                                self.pending.push_back(event.clone());
                            }
                        }
                    }
                    self.next = end + 1;
                    return Ok(());
                }
                Err(err) if err.is_unavailable() && started.elapsed() < READ_RETRY => {
                    tracing::debug!(%err, "a watch waits for the store");
                    tokio::time::sleep(backoff.next_pause()).await;
                }
                Err(err) => return Err(err),
            }
        }
    }
}
