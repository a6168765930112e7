//! [`Lock`]: a fair lock on the coordination queue, with fencing tokens.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tracing::instrument;

use super::leased_key::{LeasedKey, Leases};
use super::queue;
use super::session::{LeaseLoss, Session};
use crate::backend::{Compare, EventType, WatchItem, WatchRequest};
use crate::codec::{Codec, CodecFor};
use crate::error::{Error, Result};
use crate::key::validate_key;
use crate::lease::LeaseId;
use crate::object::Object;
use crate::store::{Collection, Store};

/// A lock named by a key prefix, on leases of a TTL (etcd's `concurrency.Mutex`).
///
/// First come, first served: every contender stands in the lock's queue (see
/// [`coordination`](super)); the oldest live entry holds the lock, and every other contender
/// watches only the entry just ahead of it (no thundering herd). The holder's entry create
/// revision is its fencing token.
///
/// ```
/// # async fn demo<C: kvstore_core::Codec>(store: kvstore_core::Store<C>) -> kvstore_core::Result<()> {
/// use kvstore_core::coordination::Lock;
/// let lock = Lock::new(&store, "/locks/reindex", std::time::Duration::from_secs(10))?;
/// let guard = lock.acquire().await?;
/// // ... guarded writes add `guard.fence()` to their transactions ...
/// guard.unlock().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Lock {
    leases: Leases,
    prefix: String,
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("prefix", &self.prefix)
            .field("ttl", &self.leases.ttl())
            .finish_non_exhaustive()
    }
}

impl Lock {
    /// The lock `prefix` of `store`, on leases of `ttl`. An invalid prefix is
    /// [`Error::InvalidKey`]; a `ttl` below [`MIN_TTL`](super::MIN_TTL) is
    /// [`Error::InvalidArgument`].
    pub fn new<C: Codec>(store: &Store<C>, prefix: &str, ttl: Duration) -> Result<Lock> {
        validate_key(prefix)?;
        let leases = Leases::fresh("lock", store.backend(), store.on_close(), ttl)?;
        Ok(Lock {
            leases,
            prefix: prefix.to_owned(),
        })
    }

    /// The lock of the object named `name` of `collection` (in the handle's namespace), on
    /// leases of `ttl`: [`Lock::new`] at `lock` under the collection's
    /// [`coordination_key`](Collection::coordination_key) for the name.
    pub fn for_collection<K: Object, C: CodecFor<K>>(
        collection: &Collection<K, C>,
        name: &str,
        ttl: Duration,
    ) -> Result<Lock> {
        let prefix = format!("{}/lock", collection.coordination_key(name)?);
        Self::new(collection.store(), &prefix, ttl)
    }

    /// The lock `prefix`, its entries on `session`'s lease (etcd's `NewMutex(session, pfx)`):
    /// one lease and one keep-alive for every lock and election on the session; unlocking
    /// deletes this lock's entry only, and the lock is lost when the session is. A session
    /// holds the lock at most once at a time (its entry is named after the lease). A session
    /// whose TTL is below [`MIN_TTL`](super::MIN_TTL) is [`Error::InvalidArgument`].
    pub fn with_session(session: &Session, prefix: &str) -> Result<Lock> {
        validate_key(prefix)?;
        Ok(Lock {
            leases: Leases::shared("lock", session)?,
            prefix: prefix.to_owned(),
        })
    }

    /// Acquires the lock, waiting until it is free. Cancel by dropping the future: the queue
    /// entry is removed with its lease. [`Error::LeaseNotFound`] if the entry's lease is lost
    /// while waiting.
    #[instrument(level = "debug", skip(self), fields(lock = %self.prefix))]
    pub async fn acquire(&self) -> Result<LockGuard> {
        // Dropping the entry while waiting removes it with its lease.
        let entry = self.enqueue().await?;
        loop {
            let Some((ahead, revision)) = self.predecessor(&entry).await? else {
                return Ok(LockGuard { entry });
            };
            let mut changes = self
                .leases
                .backend()
                .watch(WatchRequest::key(ahead, revision + 1))
                .await?;
            loop {
                tokio::select! {
                    change = changes.next() => match change {
                        Some(Ok(WatchItem::Event(event))) if event.kind == EventType::Deleted => {
                            break
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(err)) => return Err(err),
                        None => break,
                    },
                    loss = entry.lost() => {
                        tracing::debug!(key = %entry.key, %loss, "lock entry lost while waiting");
                        return Err(Error::LeaseNotFound { lease: entry.lease_id() });
                    }
                }
            }
        }
    }

    /// Acquires the lock if it is free now; `Ok(None)` otherwise.
    #[instrument(level = "debug", skip(self), fields(lock = %self.prefix))]
    pub async fn try_acquire(&self) -> Result<Option<LockGuard>> {
        let mut entry = self.enqueue().await?;
        match self.predecessor(&entry).await? {
            None => Ok(Some(LockGuard { entry })),
            Some(_) => {
                // Leave the queue before answering, so the lock looks free to the next caller
                // as soon as the holder releases it.
                let _ = entry.release().await;
                Ok(None)
            }
        }
    }

    async fn enqueue(&self) -> Result<LeasedKey> {
        queue::enqueue(&self.leases, &self.prefix, Bytes::new()).await
    }

    /// The queue entry just ahead of `entry` and the revision it was read at, if any.
    async fn predecessor(&self, entry: &LeasedKey) -> Result<Option<(String, u64)>> {
        let (members, revision) = queue::members(self.leases.backend(), &self.prefix).await?;
        if !members.iter().any(|kv| kv.key == entry.key) {
            // The entry's lease expired (or the key was deleted by hand).
            return Err(Error::LeaseNotFound {
                lease: entry.lease_id(),
            });
        }
        Ok(members
            .into_iter()
            .take_while(|kv| kv.create_revision < entry.token)
            .last()
            .map(|kv| (kv.key, revision)))
    }
}

/// A held [`Lock`]. Dropping it releases the lock (in the background); [`LockGuard::unlock`]
/// releases it and reports whether it was still held.
pub struct LockGuard {
    entry: LeasedKey,
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
    pub fn lease(&self) -> Option<LeaseId> {
        self.entry.lease()
    }

    /// Whether the lock's lease is still believed alive.
    pub fn is_held(&self) -> bool {
        self.entry.is_alive()
    }

    /// Waits until the lock is lost (lease expired, revoked, or the store unreachable for a
    /// TTL), returning why.
    pub async fn lost(&self) -> LeaseLoss {
        self.entry.lost().await
    }

    /// Releases the lock. [`Error::LeaseNotFound`] if it had already been lost, or the store's
    /// error if it could not be told.
    pub async fn unlock(mut self) -> Result<()> {
        self.entry.release().await
    }
}
