//! [`Head`]: the newest revision a store has seen, in any answer — what a watch's lag is
//! measured against.

use std::sync::atomic::{AtomicU64, Ordering};

/// The newest revision seen in the store's reads, writes and watches.
#[derive(Debug, Default)]
pub(crate) struct Head(AtomicU64);

impl Head {
    /// Notes that the store is at `revision` at least.
    pub(crate) fn saw(&self, revision: u64) {
        if revision > self.0.load(Ordering::Relaxed) {
            self.0.fetch_max(revision, Ordering::Relaxed);
        }
    }

    /// The newest revision seen.
    pub(crate) fn latest(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
