//! Locks: a fair queue ordered by create revision, with fencing tokens.
//!
//! Each contender writes `prefix/<lease>` on a lease it keeps alive. The key with the lowest
//! create revision holds the lock; every other contender watches only the contender just ahead
//! of it (no thundering herd) and re-checks when that key is deleted. Order is first come,
//! first served. The holder's create revision is its fencing token: a guarded write compares
//! the lock key's create revision in the same transaction, so a deposed holder's write fails.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tracing::instrument;

use crate::backend::{
    Compare, CompareOp, CompareTarget, EventKind, PutLease, RangeRequest, Txn, TxnOp, WatchRequest,
};
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::keep_alive::KeepAlive;
use crate::key::{directory_range, validate_key};
use crate::store::Store;

/// The shortest TTL a lock accepts: below it a renewal every third of the TTL cannot be relied on.
pub const MIN_LOCK_TTL: Duration = Duration::from_secs(2);

/// A held lock. Dropping it releases the lock (in the background); [`LockGuard::unlock`]
/// releases it and reports whether it was still held.
pub struct LockGuard {
    backend: Arc<dyn crate::Backend>,
    key: String,
    token: u64,
    keep_alive: Option<KeepAlive>,
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("key", &self.key)
            .field("token", &self.token)
            .field("held", &self.is_held())
            .finish()
    }
}

impl LockGuard {
    /// The lock key of this holder.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The fencing token: the lock key's create revision, increasing with every acquisition.
    pub fn fencing_token(&self) -> u64 {
        self.token
    }

    /// The compare that holds only while this guard still holds the lock; add it to a
    /// transaction to fence a write.
    pub fn fence(&self) -> Compare {
        Compare {
            key: self.key.clone(),
            op: CompareOp::Equal,
            target: CompareTarget::CreateRevision(self.token),
        }
    }

    /// The lease the lock lives on (`None` once unlocked).
    pub fn lease(&self) -> Option<crate::LeaseId> {
        self.keep_alive.as_ref().map(KeepAlive::id)
    }

    /// Whether the lock's lease is still believed alive.
    pub fn is_held(&self) -> bool {
        self.keep_alive.as_ref().is_some_and(KeepAlive::is_alive)
    }

    /// Waits until the lock is lost (lease expired, revoked, or the store unreachable for a TTL).
    pub async fn lost(&self) -> String {
        match &self.keep_alive {
            Some(keep_alive) => keep_alive.lost().await,
            None => "unlocked".to_owned(),
        }
    }

    /// Stops renewing; returns the lease and whether it was still alive (`None` if already
    /// released).
    fn stop_renewing(&mut self) -> Option<(crate::LeaseId, bool)> {
        self.keep_alive.take().map(|k| (k.id(), k.is_alive()))
    }

    /// Releases the lock. An error if it had already been lost.
    pub async fn unlock(mut self) -> Result<()> {
        let (lease, alive) = self.stop_renewing().ok_or_else(|| {
            Error::InvalidArgument(format!("lock {} is already unlocked", self.key))
        })?;
        let revoked = self.backend.lease_revoke(lease).await;
        match (alive, revoked) {
            (true, Ok(())) => Ok(()),
            (_, Err(err)) if !err.is_lease_not_found() => Err(err),
            _ => Err(Error::LeaseNotFound { lease: lease.0 }),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some((lease, _)) = self.stop_renewing() {
            let backend = Arc::clone(&self.backend);
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = backend.lease_revoke(lease).await;
                });
            }
        }
    }
}

impl<C: Codec> Store<C> {
    /// Acquires the lock `prefix`, waiting (first come, first served) until it is free. Cancel
    /// by dropping the future: the queue entry is removed with its lease.
    #[instrument(level = "debug", skip(self))]
    pub async fn lock(&self, prefix: &str, ttl: Duration) -> Result<LockGuard> {
        // Dropping the guard while waiting removes the queue entry with its lease.
        let guard = self.enqueue(prefix, ttl).await?;
        self.wait_for_turn(prefix, guard).await
    }

    /// Acquires the lock `prefix` if it is free now; `Ok(None)` otherwise.
    #[instrument(level = "debug", skip(self))]
    pub async fn try_lock(&self, prefix: &str, ttl: Duration) -> Result<Option<LockGuard>> {
        let mut guard = self.enqueue(prefix, ttl).await?;
        match self.predecessor(prefix, &guard).await? {
            None => Ok(Some(guard)),
            Some(_) => {
                // Leave the queue before answering, so the lock looks free to the next caller
                // as soon as the holder releases it.
                if let Some((lease, _)) = guard.stop_renewing() {
                    let _ = guard.backend.lease_revoke(lease).await;
                }
                Ok(None)
            }
        }
    }

    /// Writes this contender's queue entry.
    async fn enqueue(&self, prefix: &str, ttl: Duration) -> Result<LockGuard> {
        validate_key(prefix)?;
        if ttl < MIN_LOCK_TTL {
            return Err(Error::InvalidArgument(format!(
                "lock ttl {ttl:?} is below the safe minimum of {MIN_LOCK_TTL:?}"
            )));
        }
        let backend = Arc::clone(self.backend());
        let lease = self.grant_lease(ttl).await?;
        let keep_alive = KeepAlive::start(Arc::clone(&backend), lease);
        let key = format!("{prefix}/{:016x}", lease.id.0);
        let response = backend
            .txn(Txn {
                compare: vec![Compare::absent(&key)],
                success: vec![TxnOp::Put {
                    key: key.clone(),
                    value: Bytes::new(),
                    lease: PutLease::Attach(lease.id),
                }],
                failure: vec![],
            })
            .await;
        // Built before the write's outcome is known, so an error revokes the lease on drop.
        let mut guard = LockGuard {
            backend,
            key,
            token: 0,
            keep_alive: Some(keep_alive),
        };
        let response = response?;
        if !response.succeeded {
            return Err(Error::AlreadyExists {
                key: guard.key.clone(),
            });
        }
        guard.token = response.revision;
        Ok(guard)
    }

    /// The queue entry just ahead of `guard` and the revision it was read at, if any.
    async fn predecessor(&self, prefix: &str, guard: &LockGuard) -> Result<Option<(String, u64)>> {
        let (start, end) = directory_range(prefix);
        let response = self
            .backend()
            .range(RangeRequest {
                key: start,
                range_end: Some(end),
                limit: 0,
                revision: 0,
            })
            .await?;
        if !response.kvs.iter().any(|kv| kv.key == guard.key) {
            return Err(Error::Unavailable {
                message: format!(
                    "lock queue entry {} vanished (its lease expired)",
                    guard.key
                ),
                source: None,
            });
        }
        Ok(response
            .kvs
            .into_iter()
            .filter(|kv| kv.create_revision < guard.token)
            .max_by_key(|kv| kv.create_revision)
            .map(|kv| (kv.key, response.revision)))
    }

    async fn wait_for_turn(&self, prefix: &str, guard: LockGuard) -> Result<LockGuard> {
        loop {
            let Some((ahead, revision)) = self.predecessor(prefix, &guard).await? else {
                return Ok(guard);
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
                    reason = guard.lost() => {
                        return Err(Error::Unavailable { message: format!("lost the lock queue entry while waiting: {reason}"), source: None });
                    }
                }
            }
        }
    }
}
