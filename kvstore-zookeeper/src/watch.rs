//! Watches read the revision log. Each stream keeps its own position and reads the entries
//! after it, in order, when the head revision moves; so a watch from a past revision replays
//! what it missed, a stream never skips or repeats an entry (even across a server restart or a
//! new session: the log is the truth, ZooKeeper's notifications only say when to look), and a
//! slow reader delays no one. A start point before the compaction point gives `Gone`.
//!
//! One task per backend learns the head: a persistent ZooKeeper watch on `head`, and a read of
//! it after every notification and every reconnection (notifications can be lost while
//! disconnected, ZOOKEEPER-4698), plus a read every few seconds as a safety net.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::stream;
use kvstore_core::backend::{Event, EventStream, WatchItem, WatchRequest};
use kvstore_core::{Error, Result};
use tokio::sync::watch;
use zookeeper_client as zk;

use crate::inner::Inner;
use crate::read::in_range;
use crate::records::{decode_counter, LoggedEvent};
use crate::{log, values};

/// The head is read this often even without a notification.
const HEAD_POLL: Duration = Duration::from_secs(5);

/// How long a stream keeps trying to read the log while ZooKeeper is unreachable.
const READ_RETRY: Duration = Duration::from_secs(30);

/// Learns the head revision for the watches of one backend.
pub(crate) fn spawn_head_watcher(inner: &Arc<Inner>) {
    let weak = Arc::downgrade(inner);
    tokio::spawn(async move {
        loop {
            let Some(inner) = Weak::upgrade(&weak) else {
                return;
            };
            let client = inner.conn.client();
            let path = inner.layout.head();
            let watcher = inner
                .conn
                .call(
                    "watching the head revision",
                    client.watch(&path, zk::AddWatchMode::Persistent),
                )
                .await;
            drop(inner);
            match watcher {
                Ok(watcher) => follow(&weak, watcher).await,
                Err(err) => {
                    tracing::debug!(%err, "zookeeper: cannot watch the head revision");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
}

/// Publishes the head after every notification of `watcher`, until its session ends.
async fn follow(weak: &Weak<Inner>, mut watcher: zk::PersistentWatcher) {
    loop {
        if let Some(inner) = Weak::upgrade(weak) {
            publish_head(&inner).await;
        } else {
            return;
        }
        let event = tokio::select! {
            event = watcher.changed() => Some(event),
            () = tokio::time::sleep(HEAD_POLL) => None,
        };
        if let Some(event) = event {
            if event.event_type == zk::EventType::Session && event.session_state.is_terminated() {
                // The session is over (the watcher must not be asked again): a new one is
                // opened by the next failing request, then watched again.
                if let Some(inner) = Weak::upgrade(weak) {
                    let _ = log::head(&inner).await;
                }
                return;
            }
        }
    }
}

async fn publish_head(inner: &Inner) {
    let client = inner.conn.client();
    let path = inner.layout.head();
    match inner
        .conn
        .call("reading the head revision", client.get_data(&path))
        .await
    {
        Ok((data, _)) => match decode_counter(&path, &data) {
            Ok(head) => {
                inner.learn_head(head);
            }
            Err(err) => tracing::warn!(%err, "zookeeper: unreadable head revision"),
        },
        Err(err) => tracing::debug!(%err, "zookeeper: reading the head revision failed"),
    }
}

/// Opens a watch.
pub(crate) async fn open(inner: &Arc<Inner>, request: WatchRequest) -> Result<EventStream> {
    let (head, compacted) = log::head(inner).await?;
    inner.learn_head(head);
    let next = match request.start_revision {
        0 => head + 1,
        r if r < compacted => {
            return Err(Error::Gone {
                revision: r,
                compacted,
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
    Ok(Box::pin(stream::unfold(cursor, Cursor::next_item)))
}

struct Cursor {
    inner: Arc<Inner>,
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

impl Cursor {
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

    /// Reads the entries up to `head` (a batch at a time) into `pending`, retrying while
    /// ZooKeeper is unreachable.
    async fn read_until(&mut self, head: u64) -> Result<()> {
        let end = head.min(self.next + log::READ_BATCH - 1);
        let started = tokio::time::Instant::now();
        loop {
            match self.read_batch(end).await {
                Err(err @ Error::Unavailable { .. }) if started.elapsed() < READ_RETRY => {
                    tracing::debug!(%err, "zookeeper: a watch waits for ZooKeeper");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    async fn read_batch(&mut self, end: u64) -> Result<()> {
        let entries = log::read_all(&self.inner, self.next, end).await?;
        let range_end = self.request.range_end.as_deref();
        let wanted: Vec<(u64, LoggedEvent)> = entries
            .into_iter()
            .flat_map(|(revision, entry)| entry.events.into_iter().map(move |e| (revision, e)))
            .filter(|(_, e)| in_range(&e.key, &self.request.key, range_end))
            .collect();
        let mut refs = Vec::new();
        for (_, event) in &wanted {
            if let Some(put) = &event.put {
                refs.push(&put.value);
            }
            if let Some(prev) = &event.prev {
                refs.push(&prev.value);
            }
        }
        let loaded = values::read(&self.inner, &refs).await?;
        if loaded.iter().any(Option::is_none) {
            return Err(log::missing_entry(&self.inner, self.next).await);
        }
        let mut loaded = loaded.into_iter().flatten();
        for (revision, event) in wanted {
            let value = if event.put.is_some() {
                loaded.next().unwrap_or_default()
            } else {
                Default::default()
            };
            let prev = event
                .prev
                .as_ref()
                .map(|_| loaded.next().unwrap_or_default());
            self.pending
                .push_back(event.to_event(revision, value, prev));
        }
        self.next = end + 1;
        Ok(())
    }
}
