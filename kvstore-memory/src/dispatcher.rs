//! The task that tells watchers about new revisions. A writer only wakes this one task, so a
//! write costs the same with one watcher or a hundred; the dispatcher wakes them all, and
//! under load one wake-up covers every write made meanwhile.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use tokio::sync::Notify;

use crate::Shared;

/// Starts the dispatcher of `shared`. It ends when the store is dropped.
pub(crate) fn spawn(shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    let wake = Arc::clone(&shared.written);
    tokio::spawn(run(weak, wake));
}

async fn run(shared: Weak<Shared>, wake: Arc<Notify>) {
    loop {
        wake.notified().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let revision = shared.latest.load(Ordering::Acquire);
        shared.revisions.send_if_modified(|published| {
            let newer = revision > *published;
            *published = (*published).max(revision);
            newer
        });
    }
}
