//! The head revision as the engine's watches know it: learned from its own appends and from
//! the storage's wake-ups ([`Storage::head_changes`]), published to every watch by one task.
//! A writer only wakes that task, so a write costs the same with one watch or a hundred, and
//! under load one wake-up covers every write made meanwhile.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use futures::StreamExt;
use tokio::sync::{watch, Notify};

use super::storage::Storage;
use super::Inner;

pub(crate) struct Heads {
    /// The newest head published to the watches.
    published: watch::Sender<u64>,
    /// The newest head learned, for the dispatcher to publish.
    latest: AtomicU64,
    /// Wakes the dispatcher.
    learned: Arc<Notify>,
    started: AtomicBool,
}

impl Default for Heads {
    fn default() -> Self {
        Heads {
            published: watch::Sender::new(0),
            latest: AtomicU64::new(0),
            learned: Arc::new(Notify::new()),
            started: AtomicBool::new(false),
        }
    }
}

impl Heads {
    /// Notes that the head is at least `revision`.
    pub fn learn(&self, revision: u64) {
        if self.latest.fetch_max(revision, Ordering::AcqRel) < revision {
            self.learned.notify_one();
        }
    }

    /// The published heads, for a watch.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.published.subscribe()
    }

    /// Starts the dispatcher and the follower of the storage's wake-ups, once.
    pub fn start<S: Storage>(inner: &Arc<Inner<S>>) {
        if inner.heads.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(inner);
        let learned = Arc::clone(&inner.heads.learned);
        tokio::spawn(dispatch(weak.clone(), learned));
        let changes = inner.storage.head_changes();
        let closed = inner.heads.subscribe();
        tokio::spawn(follow(weak, changes, closed));
    }

    /// Lets the tasks notice that the engine is gone.
    pub fn close(&self) {
        self.learned.notify_one();
    }
}

async fn dispatch<S: Storage>(inner: Weak<Inner<S>>, learned: Arc<Notify>) {
    loop {
        learned.notified().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let revision = inner.heads.latest.load(Ordering::Acquire);
        inner.heads.published.send_if_modified(|published| {
            let newer = revision > *published;
            *published = (*published).max(revision);
            newer
        });
    }
}

async fn follow<S: Storage>(
    inner: Weak<Inner<S>>,
    mut changes: futures::stream::BoxStream<'static, u64>,
    mut closed: watch::Receiver<u64>,
) {
    loop {
        tokio::select! {
            head = changes.next() => match (head, inner.upgrade()) {
                (Some(head), Some(inner)) => inner.heads.learn(head),
                _ => return,
            },
            // Ends with the engine, whose sender it is.
            changed = closed.changed() => if changed.is_err() { return },
        }
    }
}
