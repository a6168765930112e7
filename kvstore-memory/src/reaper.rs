//! The task that expires leases on tokio time (so tests can use `tokio::time::pause`).

use std::sync::{Arc, Weak};

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::Shared;

/// Starts the reaper of `shared`'s leases. It ends when the store is dropped.
pub(crate) fn spawn(shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    let wake = Arc::clone(&shared.lease_changed);
    tokio::spawn(run(weak, wake));
}

async fn run(shared: Weak<Shared>, wake: Arc<Notify>) {
    loop {
        let deadline = match shared.upgrade() {
            Some(shared) => shared.state.read().leases.next_deadline(),
            None => return,
        };
        match deadline {
            Some(deadline) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => {}
                    _ = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
        match shared.upgrade() {
            Some(shared) => shared.expire(Instant::now()),
            None => return,
        }
    }
}
