//! The event history: every change since the compaction point, for watches to replay.

use std::collections::VecDeque;
use std::sync::Arc;

use kvstore_core::backend::Event;

/// Changes in revision order. Shared (`Arc`), so a watcher copies only pointers while it holds
/// the store's lock, and the event itself after releasing it.
#[derive(Debug, Default)]
pub(crate) struct History {
    events: VecDeque<Arc<Event>>,
}

impl History {
    pub fn push(&mut self, event: Event) {
        self.events.push_back(Arc::new(event));
    }

    /// Removes the events before `revision`, returning their keys.
    pub fn drain_before(&mut self, revision: u64) -> Vec<String> {
        let end = self
            .events
            .partition_point(|e| e.kv.mod_revision < revision);
        self.events
            .drain(..end)
            .map(|e| Arc::unwrap_or_clone(e).kv.key)
            .collect()
    }

    /// Events from revision `from` on, scanning at most about `budget` events but never
    /// splitting a revision. Returns the events matching `filter` and the revision to continue
    /// from.
    pub fn read_from(
        &self,
        from: u64,
        budget: usize,
        filter: impl Fn(&str) -> bool,
    ) -> (Vec<Arc<Event>>, u64) {
        let start = self.events.partition_point(|e| e.kv.mod_revision < from);
        let mut next = from;
        let mut found = Vec::new();
        for (scanned, event) in self.events.range(start..).enumerate() {
            let revision = event.kv.mod_revision;
            if scanned >= budget && revision != next.saturating_sub(1) {
                break;
            }
            next = revision + 1;
            if filter(&event.kv.key) {
                found.push(Arc::clone(event));
            }
        }
        (found, next)
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }
}
