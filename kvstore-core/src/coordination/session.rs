//! [`Session`]: a lease kept alive in the background, which says when it is lost.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::backend::Backend;
use crate::backoff::Backoff;
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::lease::{whole_seconds, Lease, LeaseId};
use crate::store::{OnClose, RevokeOnClose, Store};

/// Why a lease is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseLoss {
    /// The store reports the lease gone: it expired or was revoked.
    ExpiredOrRevoked,
    /// No renewal succeeded in time (the store was unreachable): the server may expire it any
    /// moment now.
    NotRenewed {
        /// The lease's time to live.
        ttl: Duration,
    },
    /// This process released it (unlock, destroy, stop).
    Released,
    /// The store was closed, which revoked it.
    StoreClosed,
}

impl fmt::Display for LeaseLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaseLoss::ExpiredOrRevoked => f.write_str("the lease expired or was revoked"),
            LeaseLoss::NotRenewed { ttl } => {
                write!(f, "the lease was not renewed within its ttl of {ttl:?}")
            }
            LeaseLoss::Released => f.write_str("the lease was released"),
            LeaseLoss::StoreClosed => f.write_str("the store was closed"),
        }
    }
}

/// The state of a session's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseState {
    /// Renewed in time so far.
    Alive,
    /// Lost: keys attached to the lease are (or soon will be) gone.
    Lost(LeaseLoss),
}

/// A lease kept alive in the background until the session is dropped or revoked — the
/// building block of ephemeral objects, locks and elections (etcd's `concurrency.Session`).
///
/// It renews every third of the TTL; when renewals fail (store unreachable) it keeps trying
/// with backoff, and declares the lease lost as soon as the last successful renewal's TTL has
/// run out *measured from before that renewal was sent*, less a safety margin of a tenth of the
/// TTL (at most a second) for clock-rate differences — always before the server can have
/// expired it. A lease the store reports gone is lost at once.
///
/// One session can carry many keys, as etcd's does: locks ([`Lock::with_session`]) and
/// elections ([`Election::join_with_session`]) on one session share its lease and its single
/// keep-alive, and releasing one of them deletes its key only. Clones share the session.
///
/// Dropping the last clone stops renewing: the lease then expires on its own after its TTL.
/// [`Session::revoke`] ends it at once, deleting its keys.
///
/// [`Lock::with_session`]: super::Lock::with_session
/// [`Election::join_with_session`]: super::Election::join_with_session
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
    state: watch::Receiver<LeaseState>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    on_close: OnClose,
    /// The store revokes the lease when it is closed, while the session lives.
    _revoked_on_close: RevokeOnClose,
    lease: Lease,
    task: JoinHandle<()>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("lease", &self.inner.lease)
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Grants a lease of `ttl` (rounded up to whole seconds) and keeps it alive.
    pub async fn new<C: Codec>(store: &Store<C>, ttl: Duration) -> Result<Session> {
        Self::grant(store.backend(), &store.on_close(), ttl).await
    }

    /// Keeps an existing `lease` alive. Must be called within a tokio runtime.
    pub fn keep_alive<C: Codec>(store: &Store<C>, lease: Lease) -> Session {
        Self::start(Arc::clone(store.backend()), store.on_close(), lease)
    }

    pub(crate) async fn grant(
        backend: &Arc<dyn Backend>,
        on_close: &OnClose,
        ttl: Duration,
    ) -> Result<Session> {
        let lease = backend.lease_grant(whole_seconds(ttl)).await?;
        Ok(Self::start(Arc::clone(backend), on_close.clone(), lease))
    }

    pub(crate) fn start(backend: Arc<dyn Backend>, on_close: OnClose, lease: Lease) -> Session {
        let (tx, state) = watch::channel(LeaseState::Alive);
        let revoked_on_close = on_close.revoke(lease.id);
        let task = tokio::spawn(renew_until_lost(
            Arc::clone(&backend),
            on_close.clone(),
            lease,
            tx,
        ));
        Session {
            inner: Arc::new(Inner {
                backend,
                on_close,
                _revoked_on_close: revoked_on_close,
                lease,
                task,
            }),
            state,
        }
    }

    /// The lease.
    pub fn lease(&self) -> Lease {
        self.inner.lease
    }

    /// The lease id.
    pub fn id(&self) -> LeaseId {
        self.inner.lease.id
    }

    /// The backend the lease lives on.
    pub(crate) fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.backend
    }

    /// What the session's store does when closed.
    pub(crate) fn on_close(&self) -> &OnClose {
        &self.inner.on_close
    }

    /// The current state.
    pub fn state(&self) -> LeaseState {
        self.state.borrow().clone()
    }

    /// Whether the lease is still believed alive.
    pub fn is_alive(&self) -> bool {
        *self.state.borrow() == LeaseState::Alive
    }

    /// Waits until the lease is lost, returning why.
    pub async fn lost(&self) -> LeaseLoss {
        let mut state = self.state.clone();
        loop {
            if let LeaseState::Lost(loss) = &*state.borrow_and_update() {
                return loss.clone();
            }
            if state.changed().await.is_err() {
                // The renewal task ended without a word: it was stopped.
                return LeaseLoss::Released;
            }
        }
    }

    /// A receiver of state changes, for `select!` loops.
    pub fn subscribe(&self) -> watch::Receiver<LeaseState> {
        self.state.clone()
    }

    /// Renews the lease now (the background renewal goes on), returning its time to live;
    /// [`Error::LeaseNotFound`] once it is lost.
    pub async fn renew(&self) -> Result<Duration> {
        if !self.is_alive() {
            return Err(Error::LeaseNotFound { lease: self.id() });
        }
        self.inner.backend.lease_renew(self.id()).await
    }

    /// Stops renewing and revokes the lease: every key attached to it is deleted at once
    /// (whatever other clones carry). [`Error::LeaseNotFound`] if it had already been lost.
    pub async fn revoke(self) -> Result<()> {
        let (alive, lease) = (self.is_alive(), self.id());
        let backend = Arc::clone(&self.inner.backend);
        self.inner.task.abort();
        drop(self);
        match (alive, backend.lease_revoke(lease).await) {
            (true, Ok(())) => Ok(()),
            (_, Err(err)) if !err.is_lease_not_found() => Err(err),
            _ => Err(Error::LeaseNotFound { lease }),
        }
    }

    /// Revokes the lease in the background (for `Drop` implementations of the handles built on
    /// a session); does nothing outside a tokio runtime.
    pub(crate) fn revoke_in_background(self) {
        let (backend, lease) = (Arc::clone(&self.inner.backend), self.id());
        self.inner.task.abort();
        drop(self);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = backend.lease_revoke(lease).await;
            });
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// First pause after a failed renewal; it doubles up to a tenth of the TTL.
const RETRY: Duration = Duration::from_millis(200);

async fn renew_until_lost(
    backend: Arc<dyn Backend>,
    on_close: OnClose,
    lease: Lease,
    state: watch::Sender<LeaseState>,
) {
    // The lease was granted no earlier than now: its server-side deadline is at least now + ttl.
    let margin = (lease.ttl / 10).min(Duration::from_secs(1));
    let mut deadline = Instant::now() + lease.ttl - margin;
    let period = (lease.ttl / 3).max(Duration::from_millis(100));
    let mut backoff = Backoff::new(RETRY, RETRY.max(lease.ttl / 10));
    let mut next = Instant::now() + period;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = tokio::time::sleep_until(deadline) => {
                let _ = state.send(LeaseState::Lost(LeaseLoss::NotRenewed { ttl: lease.ttl }));
                return;
            }
            () = on_close.closed() => {
                let _ = state.send(LeaseState::Lost(LeaseLoss::StoreClosed));
                return;
            }
        }
        let sent = Instant::now();
        let attempt = tokio::time::timeout_at(deadline, backend.lease_renew(lease.id)).await;
        match attempt {
            Ok(Ok(ttl)) => {
                deadline = sent + ttl.saturating_sub(margin);
                next = Instant::now() + period;
                backoff.reset();
            }
            Ok(Err(Error::LeaseNotFound { .. })) => {
                let _ = state.send(LeaseState::Lost(LeaseLoss::ExpiredOrRevoked));
                return;
            }
            Ok(Err(err)) => {
                tracing::debug!(%err, lease = %lease.id, "lease renewal failed, retrying");
                metrics::counter!(crate::metrics::LEASE_RENEWALS_MISSED).increment(1);
                next = Instant::now() + backoff.next_pause();
            }
            Err(_) => next = Instant::now(),
        }
    }
}
