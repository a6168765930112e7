//! Compaction as writes go on ([`Options::retain`](super::Options::retain)): the history kept
//! stays bounded without anyone calling `compact`.

use super::storage::Storage;
use super::Inner;

/// After an append reached `head`: compacts to `head - retain` once that is a tenth of
/// `retain` past the compaction point `compacted` (so one compaction removes many revisions,
/// not one per write). A failed compaction is logged; the write it follows is done.
pub(crate) async fn after_append<S: Storage>(inner: &Inner<S>, head: u64, compacted: u64) {
    let Some(retain) = inner.options.retain else {
        return;
    };
    let target = head.saturating_sub(retain);
    if target < compacted.saturating_add((retain / 10).max(1)) {
        return;
    }
    if let Err(err) = inner.storage.compact(target).await {
        tracing::warn!(
            backend = inner.storage.name(),
            revision = target,
            error = %err,
            "compacting the history failed; the next write tries again"
        );
    }
}
