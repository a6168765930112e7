//! Compaction as writes go on ([`Options::retain`](super::Options::retain)): the history kept
//! stays bounded without anyone calling `compact`.
//!
//! A compaction runs in a task of its own, one at a time: the write that triggers it is
//! answered at once, and writes go on while it runs (a store whose compaction is many requests
//! — ZooKeeper deletes a znode per revision — would otherwise stall every writer behind it).
//! So the history may pass `retain` and its tenth by what is written during one compaction.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::storage::Storage;
use super::Inner;

/// After an append reached `head`: compacts to `head - retain` once that is a tenth of
/// `retain` past the compaction point `compacted` (so one compaction removes many revisions,
/// not one per write), unless a compaction is running. A failed compaction is logged; the next
/// write tries again.
pub(crate) fn after_append<S: Storage>(inner: &Arc<Inner<S>>, head: u64, compacted: u64) {
    let Some(retain) = inner.options.retain else {
        return;
    };
    let target = head.saturating_sub(retain);
    if target < compacted.saturating_add((retain / 10).max(1)) {
        return;
    }
    if inner.compacting.swap(true, Ordering::AcqRel) {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        inner.compacting.store(false, Ordering::Release);
        return;
    };
    let inner = Arc::clone(inner);
    runtime.spawn(async move {
        match inner.storage.compact(target).await {
            Ok(()) => inner.known.learn_compacted(target),
            Err(err) => {
                tracing::warn!(
                    backend = inner.storage.name(),
                    revision = target,
                    error = %err,
                    "compacting the history failed; the next write tries again"
                );
            }
        }
        inner.compacting.store(false, Ordering::Release);
    });
}
