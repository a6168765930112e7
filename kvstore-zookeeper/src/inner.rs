//! What the parts of one backend share: the session, where the store lives, and the state
//! that orders this client's writes and wakes its watches.

use crate::config::ZooKeeperConfig;
use crate::connection::Connection;
use crate::layout::Layout;

pub(crate) struct Inner {
    pub conn: Connection,
    pub layout: Layout,
    pub config: ZooKeeperConfig,
    /// The newest head revision known, for watch streams.
    pub heads: tokio::sync::watch::Sender<u64>,
    /// The head revision the latest progress request must be answered at.
    pub progress: tokio::sync::watch::Sender<u64>,
    /// One commit at a time from this client (the writer's and lease expiries').
    pub write_lock: tokio::sync::Mutex<()>,
}

impl Inner {
    /// Publishes `head` to the watch streams if it is newer than the newest known.
    pub fn learn_head(&self, head: u64) {
        self.heads.send_if_modified(|known| {
            let newer = head > *known;
            *known = (*known).max(head);
            newer
        });
    }
}
