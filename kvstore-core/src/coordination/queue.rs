//! Keys on leases kept alive in the background, and the queue locks and elections stand in:
//! one such key per contender under a prefix, ordered by create revision. The oldest live entry
//! is at the head (holds the lock, leads the election).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::MIN_TTL;
use crate::backend::{
    Backend, Compare, CompareOp, CompareTarget, KeyValue, Lease, LeaseId, PutLease, RangeRequest,
    Txn, TxnOp,
};
use crate::error::{Error, Result};
use crate::keep_alive::KeepAlive;
use crate::key::{directory_range, validate_key};

/// Refuses a TTL too short to be renewed safely.
pub(crate) fn check_ttl(what: &str, ttl: Duration) -> Result<()> {
    if ttl < MIN_TTL {
        return Err(Error::InvalidArgument(format!(
            "{what} ttl {ttl:?} is below the safe minimum of {MIN_TTL:?}"
        )));
    }
    Ok(())
}

/// A key on a lease this process keeps alive: a contender's entry in a queue, or an ephemeral
/// object. Dropping it revokes the lease (in the background), deleting the key.
pub(crate) struct Entry {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) key: String,
    /// The entry's create revision: its place in the queue and its fencing token.
    pub(crate) token: u64,
    lease_id: LeaseId,
    keep_alive: Option<KeepAlive>,
}

impl Entry {
    /// A fresh lease of `ttl`, kept alive, for the key `key(lease)`; nothing is written yet.
    pub(crate) async fn lease_for(
        backend: &Arc<dyn Backend>,
        ttl: Duration,
        key: impl FnOnce(LeaseId) -> String,
    ) -> Result<Entry> {
        let lease = backend
            .lease_grant(crate::backend::whole_seconds(ttl))
            .await?;
        Ok(Entry {
            backend: Arc::clone(backend),
            key: key(lease.id),
            token: 0,
            lease_id: lease.id,
            keep_alive: Some(KeepAlive::start(Arc::clone(backend), lease)),
        })
    }

    /// Writes a new entry `prefix/<lease>` holding `value` on a fresh lease of `ttl`.
    pub(crate) async fn enqueue(
        backend: &Arc<dyn Backend>,
        prefix: &str,
        ttl: Duration,
        value: Bytes,
    ) -> Result<Entry> {
        validate_key(prefix)?;
        // The key is named after the lease, so it is known once the lease is granted. An error
        // below drops the entry, which revokes the lease.
        let mut entry =
            Entry::lease_for(backend, ttl, |lease| format!("{prefix}/{:016x}", lease.0)).await?;
        let (key, lease) = (entry.key.clone(), entry.lease_id);
        let response = backend
            .txn(Txn {
                compare: vec![Compare::absent(&key)],
                success: vec![TxnOp::Put {
                    key,
                    value,
                    lease: PutLease::Attach(lease),
                }],
                failure: vec![],
            })
            .await?;
        if !response.succeeded {
            return Err(Error::AlreadyExists {
                key: entry.key.clone(),
            });
        }
        entry.token = response.revision;
        Ok(entry)
    }

    /// Takes over an existing entry (left by an earlier run of the same contender) if its lease
    /// is still alive: renews it and keeps it alive from now on.
    pub(crate) async fn adopt(backend: &Arc<dyn Backend>, kv: &KeyValue) -> Result<Option<Entry>> {
        let Some(lease) = kv.lease else {
            return Ok(None);
        };
        match backend.lease_keep_alive(lease).await {
            Ok(ttl) => Ok(Some(Entry {
                backend: Arc::clone(backend),
                key: kv.key.clone(),
                token: kv.create_revision,
                lease_id: lease,
                keep_alive: Some(KeepAlive::start(
                    Arc::clone(backend),
                    Lease { id: lease, ttl },
                )),
            })),
            Err(err) if err.is_lease_not_found() => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The compare that holds only while this entry exists as written.
    pub(crate) fn fence(&self) -> Compare {
        Compare {
            key: self.key.clone(),
            op: CompareOp::Equal,
            target: CompareTarget::CreateRevision(self.token),
        }
    }

    /// The lease the entry was written on (released or not).
    pub(crate) fn lease_id(&self) -> LeaseId {
        self.lease_id
    }

    /// The entry's lease (`None` once released).
    pub(crate) fn lease(&self) -> Option<LeaseId> {
        self.keep_alive.as_ref().map(KeepAlive::id)
    }

    /// Renews the lease now, returning its time to live; [`Error::LeaseNotFound`] once it is
    /// lost or released (even if the server might still hold it: it is no longer kept alive).
    pub(crate) async fn renew(&self) -> Result<Duration> {
        if !self.is_alive() {
            return Err(Error::LeaseNotFound {
                lease: self.lease_id.0,
            });
        }
        self.backend.lease_keep_alive(self.lease_id).await
    }

    /// A receiver of the lease's state (lost once released).
    pub(crate) fn lease_state(&self) -> tokio::sync::watch::Receiver<crate::LeaseState> {
        match &self.keep_alive {
            Some(keep_alive) => keep_alive.subscribe(),
            None => tokio::sync::watch::channel(crate::LeaseState::Lost("released".to_owned())).1,
        }
    }

    /// Whether the lease is still believed alive.
    pub(crate) fn is_alive(&self) -> bool {
        self.keep_alive.as_ref().is_some_and(KeepAlive::is_alive)
    }

    /// Waits until the lease is lost, returning why.
    pub(crate) async fn lost(&self) -> String {
        match &self.keep_alive {
            Some(keep_alive) => keep_alive.lost().await,
            None => "released".to_owned(),
        }
    }

    /// Leaves the queue: stops renewing and revokes the lease. An error if it was already
    /// released or lost.
    pub(crate) async fn release(&mut self) -> Result<()> {
        let keep_alive = self
            .keep_alive
            .take()
            .ok_or_else(|| Error::InvalidArgument(format!("{} was already released", self.key)))?;
        let (lease, alive) = (keep_alive.id(), keep_alive.is_alive());
        drop(keep_alive);
        match (alive, self.backend.lease_revoke(lease).await) {
            (true, Ok(())) => Ok(()),
            (_, Err(err)) if !err.is_lease_not_found() => Err(err),
            _ => Err(Error::LeaseNotFound { lease: lease.0 }),
        }
    }

    /// The entries of the queue at `prefix`, oldest first, and the revision they were read at.
    pub(crate) async fn members(
        backend: &Arc<dyn Backend>,
        prefix: &str,
    ) -> Result<(Vec<KeyValue>, u64)> {
        let (start, end) = directory_range(prefix);
        let response = backend
            .range(RangeRequest {
                key: start,
                range_end: Some(end),
                limit: 0,
                revision: 0,
            })
            .await?;
        let mut kvs = response.kvs;
        kvs.sort_by_key(|kv| kv.create_revision);
        Ok((kvs, response.revision))
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(keep_alive) = self.keep_alive.take() {
            let (backend, lease) = (Arc::clone(&self.backend), keep_alive.id());
            drop(keep_alive);
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = backend.lease_revoke(lease).await;
                });
            }
        }
    }
}
