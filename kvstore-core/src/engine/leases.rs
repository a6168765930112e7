//! Leases on the store's clock. A lease's term begins at its grant or last renewal, as the
//! storage stamps it ([`Storage::touch_lease`]); it is over when the store's clock passes the
//! term's start plus the time to live, whichever client judges. Ending a lease — revoked or
//! expired — goes through the writer, the one committer: its keys are deleted in one revision,
//! together with the lease. An expiry is conditional on the term judged over, so a renewal that
//! came in between wins; several engines racing to expire one lease take one revision between
//! them. A renewal that arrives after its term ended ends the lease and fails.
//!
//! Each engine runs one reaper task: it sleeps until the earliest end of term it knows of
//! (tokio time, so tests can pause it), or until a grant wakes it, or — on a store other
//! clients write — for at most the check interval, to find leases others granted or abandoned.
//! It reads the store's clock only when a lease looks due by its last measure of that clock.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

use super::storage::{Revocation, Storage};
use super::writer::{submit, Done, Job};
use super::Inner;
use crate::backend::{whole_seconds, Lease};
use crate::error::{Error, Result};
use crate::lease::{LeaseId, LeaseInfo};

/// Grants a lease of `ttl`, rounded up to whole seconds.
pub(crate) async fn grant<S: Storage>(inner: &Arc<Inner<S>>, ttl: Duration) -> Result<Lease> {
    let stored = inner.storage.create_lease(whole_seconds(ttl)).await?;
    start_reaper(inner);
    inner.lease_granted.notify_one();
    Ok(Lease {
        id: stored.id,
        ttl: stored.ttl,
    })
}

/// Renews a lease for its full time to live.
pub(crate) async fn renew<S: Storage>(inner: &Arc<Inner<S>>, id: LeaseId) -> Result<Duration> {
    let touched = inner
        .storage
        .touch_lease(id)
        .await?
        .ok_or(Error::LeaseNotFound { lease: id })?;
    if touched.before.expired_at(touched.renewed) {
        // Renewed after its term ended, before anyone expired it: it is over.
        let expiry = Revocation {
            lease: id,
            renewed: Some(touched.renewed),
        };
        let _ = submit(inner, Job::Revoke(expiry)).await;
        return Err(Error::LeaseNotFound { lease: id });
    }
    Ok(touched.before.ttl)
}

/// Revokes a lease, deleting its keys.
pub(crate) async fn revoke<S: Storage>(inner: &Arc<Inner<S>>, id: LeaseId) -> Result<()> {
    let revocation = Revocation {
        lease: id,
        renewed: None,
    };
    submit(inner, Job::Revoke(revocation)).await.map(|_| ())
}

/// A lease read without renewing it; `None` when it does not exist or its term is over.
pub(crate) async fn info<S: Storage>(
    inner: &Arc<Inner<S>>,
    id: LeaseId,
) -> Result<Option<LeaseInfo>> {
    let Some(lease) = inner
        .storage
        .leases()
        .await?
        .into_iter()
        .find(|lease| lease.id == id)
    else {
        return Ok(None);
    };
    let now = inner.storage.now().await?;
    if lease.expired_at(now) {
        return Ok(None);
    }
    let Some(keys) = inner.storage.lease_keys(id).await? else {
        return Ok(None);
    };
    let remaining = lease.ttl.saturating_sub(now.saturating_sub(lease.renewed));
    let keys = keys.kvs.into_iter().map(|kv| kv.key).collect();
    Ok(Some(LeaseInfo::new(id, lease.ttl, remaining, keys)))
}

/// The leases whose term is not over.
pub(crate) async fn live<S: Storage>(inner: &Arc<Inner<S>>) -> Result<Vec<LeaseId>> {
    let leases = inner.storage.leases().await?;
    if leases.is_empty() {
        return Ok(Vec::new());
    }
    let now = inner.storage.now().await?;
    Ok(leases
        .into_iter()
        .filter(|lease| !lease.expired_at(now))
        .map(|lease| lease.id)
        .collect())
}

/// Starts the reaper of `inner`, once.
pub(crate) fn start_reaper<S: Storage>(inner: &Arc<Inner<S>>) {
    if inner.reaper_started.swap(true, Ordering::AcqRel) {
        return;
    }
    tokio::spawn(reaper(Arc::downgrade(inner)));
}

/// The store's clock as last measured, against tokio's.
#[derive(Clone, Copy)]
struct Clock {
    store: Duration,
    local: Instant,
}

impl Clock {
    fn estimate(&self, local: Instant) -> Duration {
        self.store + local.saturating_duration_since(self.local)
    }
    fn local(&self, store: Duration) -> Instant {
        self.local + store.saturating_sub(self.store)
    }
}

async fn reaper<S: Storage>(weak: Weak<Inner<S>>) {
    let mut clock: Option<Clock> = None;
    loop {
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let granted = Arc::clone(&inner.lease_granted);
        let interval = inner.options.lease_check_interval;
        let next = match reap(&inner, &mut clock).await {
            Ok(next) => next,
            Err(err) => {
                tracing::debug!(%err, backend = inner.storage.name(), "checking for expired leases failed");
                Some(Instant::now() + interval.unwrap_or(Duration::from_secs(1)))
            }
        };
        drop(inner);
        let wake = match (next, interval) {
            (Some(next), Some(interval)) => Some(next.min(Instant::now() + interval)),
            (next, None) => next,
            (None, Some(interval)) => Some(Instant::now() + interval),
        };
        match wake {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = granted.notified() => {}
                }
            }
            None => granted.notified().await,
        }
    }
}

/// Expires the leases whose term is over; returns when the next term known ends (local time).
async fn reap<S: Storage>(
    inner: &Arc<Inner<S>>,
    clock: &mut Option<Clock>,
) -> Result<Option<Instant>> {
    let leases = inner.storage.leases().await?;
    if leases.is_empty() {
        return Ok(None);
    }
    let looks_due = match clock {
        Some(clock) => {
            let now = clock.estimate(Instant::now());
            leases.iter().any(|lease| lease.expired_at(now))
        }
        None => true,
    };
    let measured = match clock {
        Some(clock) if !looks_due => *clock,
        _ => {
            let local = Instant::now();
            let store = inner.storage.now().await?;
            let measured = Clock { store, local };
            *clock = Some(measured);
            measured
        }
    };
    let mut next: Option<Instant> = None;
    for lease in leases {
        if lease.expired_at(measured.store) {
            let expiry = Revocation {
                lease: lease.id,
                renewed: Some(lease.renewed),
            };
            match submit(inner, Job::Revoke(expiry)).await {
                Ok(Done::Revoked(true)) => {
                    tracing::debug!(lease = %lease.id, backend = inner.storage.name(), "lease expired")
                }
                // Renewed since it was read: look again at once.
                Ok(_) => next = Some(Instant::now()),
                Err(Error::LeaseNotFound { .. }) => {}
                Err(err) => return Err(err),
            }
        } else {
            let end = measured.local(lease.renewed + lease.ttl);
            next = Some(next.map_or(end, |n| n.min(end)));
        }
    }
    Ok(next)
}
