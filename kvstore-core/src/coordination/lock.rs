//! Locks: a fair queue ordered by create revision, with fencing tokens.
//!
//! Each contender writes `prefix/<lease>` on a lease it keeps alive. The key with the lowest
//! create revision holds the lock; every other contender watches only the contender just ahead
//! of it (no thundering herd) and re-checks when that key is deleted. Order is first come,
//! first served. The holder's create revision is its fencing token: a guarded write compares
//! the lock key's create revision in the same transaction, so a deposed holder's write fails.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tracing::instrument;

use super::queue::{check_ttl, Entry};
use crate::backend::{Compare, EventKind, WatchRequest};
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::store::Store;

/// A held lock. Dropping it releases the lock (in the background); [`LockGuard::unlock`]
/// releases it and reports whether it was still held.
pub struct LockGuard {
    entry: Entry,
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("key", &self.entry.key)
            .field("token", &self.entry.token)
            .field("held", &self.is_held())
            .finish()
    }
}

impl LockGuard {
    /// The lock key of this holder.
    pub fn key(&self) -> &str {
        &self.entry.key
    }

    /// The fencing token: the lock key's create revision, increasing with every acquisition.
    pub fn fencing_token(&self) -> u64 {
        self.entry.token
    }

    /// The compare that holds only while this guard still holds the lock; add it to a
    /// transaction to fence a write.
    pub fn fence(&self) -> Compare {
        self.entry.fence()
    }

    /// The lease the lock lives on (`None` once unlocked).
    pub fn lease(&self) -> Option<crate::LeaseId> {
        self.entry.lease()
    }

    /// Whether the lock's lease is still believed alive.
    pub fn is_held(&self) -> bool {
        self.entry.is_alive()
    }

    /// Waits until the lock is lost (lease expired, revoked, or the store unreachable for a TTL).
    pub async fn lost(&self) -> String {
        self.entry.lost().await
    }

    /// Releases the lock. An error if it had already been lost
    /// ([`Error::LeaseNotFound`]) or the store could not be told.
    pub async fn unlock(mut self) -> Result<()> {
        self.entry.release().await
    }
}

impl<C: Codec> Store<C> {
    /// Acquires the lock `prefix`, waiting (first come, first served) until it is free. Cancel
    /// by dropping the future: the queue entry is removed with its lease. A `ttl` below
    /// [`MIN_TTL`](super::MIN_TTL) is an [`Error::InvalidArgument`].
    #[instrument(level = "debug", skip(self))]
    pub async fn lock(&self, prefix: &str, ttl: Duration) -> Result<LockGuard> {
        // Dropping the entry while waiting removes it with its lease.
        let entry = self.enqueue_for_lock(prefix, ttl).await?;
        self.wait_for_turn(prefix, entry).await
    }

    /// Acquires the lock `prefix` if it is free now; `Ok(None)` otherwise.
    #[instrument(level = "debug", skip(self))]
    pub async fn try_lock(&self, prefix: &str, ttl: Duration) -> Result<Option<LockGuard>> {
        let mut entry = self.enqueue_for_lock(prefix, ttl).await?;
        match predecessor(prefix, &entry).await? {
            None => Ok(Some(LockGuard { entry })),
            Some(_) => {
                // Leave the queue before answering, so the lock looks free to the next caller
                // as soon as the holder releases it.
                let _ = entry.release().await;
                Ok(None)
            }
        }
    }

    async fn enqueue_for_lock(&self, prefix: &str, ttl: Duration) -> Result<Entry> {
        check_ttl("lock", ttl)?;
        Entry::enqueue(self.backend(), prefix, ttl, Bytes::new()).await
    }

    async fn wait_for_turn(&self, prefix: &str, entry: Entry) -> Result<LockGuard> {
        loop {
            let Some((ahead, revision)) = predecessor(prefix, &entry).await? else {
                return Ok(LockGuard { entry });
            };
            let mut changes = self
                .backend()
                .watch(WatchRequest {
                    key: ahead,
                    range_end: None,
                    start_revision: revision + 1,
                })
                .await?;
            loop {
                tokio::select! {
                    change = changes.next() => match change {
                        Some(Ok(event)) if event.kind == EventKind::Delete => break,
                        Some(Ok(_)) => continue,
                        Some(Err(err)) => return Err(err),
                        None => break,
                    },
                    reason = entry.lost() => {
                        return Err(Error::Unavailable {
                            message: format!("lost the lock queue entry while waiting: {reason}"),
                            source: None,
                        });
                    }
                }
            }
        }
    }
}

/// The queue entry just ahead of `entry` and the revision it was read at, if any.
async fn predecessor(prefix: &str, entry: &Entry) -> Result<Option<(String, u64)>> {
    let (members, revision) = Entry::members(&entry.backend, prefix).await?;
    if !members.iter().any(|kv| kv.key == entry.key) {
        return Err(Error::Unavailable {
            message: format!(
                "lock queue entry {} vanished (its lease expired)",
                entry.key
            ),
            source: None,
        });
    }
    Ok(members
        .into_iter()
        .take_while(|kv| kv.create_revision < entry.token)
        .last()
        .map(|kv| (kv.key, revision)))
}
