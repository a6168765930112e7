//! A feed: one etcd watch whose responses are handed to every local watcher that joined it,
//! so etcd sends each change once per feed instead of once per watcher.
//!
//! A watcher may join a feed that has not yet handed out anything at or after the watcher's
//! start revision; it then receives every later response and skips what precedes its start.
//! Responses are whole revisions, so a watcher is always between two revisions. A watcher
//! whose buffer is full is let go (its channel closes) and continues on a watch of its own
//! from the revision after the last response it read: a slow reader never holds back the others.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use kvstore_core::backend::WatchItem;
use kvstore_core::{Error, Result};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::resumable::Cursor;

/// The items of one etcd watch response, shared by the watchers that receive it.
pub(crate) type Batch = Arc<[WatchItem]>;

/// The revision an item is about.
pub(crate) fn revision_of(item: &WatchItem) -> u64 {
    match item {
        WatchItem::Event(event) => event.kv.mod_revision,
        WatchItem::Progress(revision) => *revision,
    }
}

/// What a member receives: a batch, or the error that ended the feed.
pub(crate) type Item = std::result::Result<Batch, Arc<Error>>;

/// One shared etcd watch.
pub(crate) struct Feed {
    state: Mutex<State>,
}

struct State {
    /// Every response before this revision has been handed out.
    next: u64,
    members: Vec<Member>,
    next_id: u64,
    /// No longer accepts members; its task has ended or is ending.
    closed: bool,
    task: Option<AbortHandle>,
}

struct Member {
    id: u64,
    /// The member's start revision: batches entirely before it are not sent.
    from: u64,
    sender: mpsc::Sender<Item>,
}

/// A watcher's place in a feed: its receiver, and its removal when dropped.
pub(crate) struct Membership {
    feed: Arc<Feed>,
    id: u64,
    receiver: mpsc::Receiver<Item>,
}

impl Membership {
    /// The next batch, the error that ended the feed, or `None` once the feed let this member
    /// go (its buffer was full, or the feed's task was dropped).
    pub async fn recv(&mut self) -> Option<Item> {
        self.receiver.recv().await
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut state = self.feed.lock();
        state.members.retain(|m| m.id != self.id);
        let task = if state.members.is_empty() {
            state.close()
        } else {
            None
        };
        drop(state);
        // Outside the lock: the task's end takes it too.
        if let Some(task) = task {
            task.abort();
        }
    }
}

impl State {
    /// Closes the feed; the caller stops the returned task, if any, once it released the lock.
    #[must_use]
    fn close(&mut self) -> Option<AbortHandle> {
        self.closed = true;
        self.members.clear();
        self.task.take()
    }

    fn admit(&mut self, feed: &Arc<Feed>, from: u64, buffer: usize) -> Membership {
        let (sender, receiver) = mpsc::channel(buffer.max(1));
        let id = self.next_id;
        self.next_id += 1;
        self.members.push(Member { id, from, sender });
        Membership {
            feed: Arc::clone(feed),
            id,
            receiver,
        }
    }
}

impl Feed {
    /// Starts a feed on an opened cursor, with a first member starting at `from`.
    pub fn start(cursor: Cursor, from: u64, buffer: usize) -> (Arc<Feed>, Membership) {
        let feed = Arc::new(Feed {
            state: Mutex::new(State {
                next: cursor.next_revision(),
                members: Vec::new(),
                next_id: 0,
                closed: false,
                task: None,
            }),
        });
        let mut state = feed.lock();
        let membership = state.admit(&feed, from, buffer);
        let task = tokio::spawn(run(Arc::clone(&feed), cursor));
        state.task = Some(task.abort_handle());
        drop(state);
        (feed, membership)
    }

    /// Joins the feed from revision `from`, unless it already handed out a response at or
    /// after `from` (or closed).
    pub fn join(self: &Arc<Self>, from: u64, buffer: usize) -> Option<Membership> {
        let mut state = self.lock();
        if state.closed || state.next > from {
            return None;
        }
        Some(state.admit(self, from, buffer))
    }

    /// Whether the feed no longer accepts members.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every point a panic could occur.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands what the cursor read to the members; `false` once the feed is over.
    fn hand_out(&self, step: Result<()>, cursor: &mut Cursor) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        match step {
            Err(err) => {
                let err = Arc::new(err);
                for member in &state.members {
                    // A member with a full buffer is let go instead and meets the error on
                    // its own watch.
                    let _ = member.sender.try_send(Err(Arc::clone(&err)));
                }
                // The task is the caller, and it ends by returning.
                let _ = state.close();
                false
            }
            Ok(()) => {
                let batch: Batch = cursor.take_pending().collect();
                if let Some(last) = batch.last().map(revision_of) {
                    state.members.retain(|member| {
                        last < member.from || member.sender.try_send(Ok(Arc::clone(&batch))).is_ok()
                    });
                }
                state.next = cursor.next_revision();
                if state.members.is_empty() {
                    let _ = state.close();
                    return false;
                }
                true
            }
        }
    }
}

/// Closes the feed when its task ends, however it ends (also when its runtime shuts down):
/// members then see their channel close and continue on watches of their own.
struct CloseOnDrop(Arc<Feed>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.task = None;
        let _ = state.close();
    }
}

async fn run(feed: Arc<Feed>, mut cursor: Cursor) {
    let feed = CloseOnDrop(feed);
    loop {
        let step = cursor.advance().await;
        if !feed.0.hand_out(step, &mut cursor) {
            return;
        }
    }
}
