//! A key on a lease this process keeps alive: an ephemeral object's key, or a contender's entry
//! in a queue — on a session of its own, or on one it shares with other keys. Dropping it
//! deletes the key in the background (revoking a lease of its own).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::check_ttl;
use super::session::{LeaseLoss, LeaseState, Session};
use crate::backend::{Backend, Compare, Txn, TxnOp};
use crate::error::{Error, Result};
use crate::lease::LeaseId;
use crate::store::OnClose;

/// Where the leases of keys come from: a fresh session per key, or one session shared by
/// every key.
#[derive(Clone)]
pub(crate) enum Leases {
    /// A session of `ttl` granted for each key.
    Fresh {
        backend: Arc<dyn Backend>,
        on_close: OnClose,
        ttl: Duration,
    },
    /// Every key on this session.
    Shared(Session),
}

impl Leases {
    /// Fresh sessions of `ttl` ([`Error::InvalidArgument`] below the safe minimum).
    pub(crate) fn fresh(
        what: &str,
        backend: &Arc<dyn Backend>,
        on_close: OnClose,
        ttl: Duration,
    ) -> Result<Leases> {
        check_ttl(what, ttl)?;
        Ok(Leases::Fresh {
            backend: Arc::clone(backend),
            on_close,
            ttl,
        })
    }

    /// Keys on `session` ([`Error::InvalidArgument`] if its TTL is below the safe minimum).
    pub(crate) fn shared(what: &str, session: &Session) -> Result<Leases> {
        check_ttl(what, session.lease().ttl)?;
        Ok(Leases::Shared(session.clone()))
    }

    pub(crate) fn backend(&self) -> &Arc<dyn Backend> {
        match self {
            Leases::Fresh { backend, .. } => backend,
            Leases::Shared(session) => session.backend(),
        }
    }

    pub(crate) fn on_close(&self) -> &OnClose {
        match self {
            Leases::Fresh { on_close, .. } => on_close,
            Leases::Shared(session) => session.on_close(),
        }
    }

    /// The leases' time to live.
    pub(crate) fn ttl(&self) -> Duration {
        match self {
            Leases::Fresh { ttl, .. } => *ttl,
            Leases::Shared(session) => session.lease().ttl,
        }
    }

    /// A lease for the key `key(lease)`; nothing is written yet.
    pub(crate) async fn key(&self, key: impl FnOnce(LeaseId) -> String) -> Result<LeasedKey> {
        match self {
            Leases::Fresh {
                backend,
                on_close,
                ttl,
            } => {
                let session = Session::grant(backend, on_close, *ttl).await?;
                Ok(LeasedKey::on(session, key, 0))
            }
            Leases::Shared(session) => Ok(LeasedKey::on_shared(session.clone(), key, 0)),
        }
    }
}

/// The session a key lives on.
enum Holder {
    /// A session of the key's own: releasing the key revokes its lease.
    Own(Session),
    /// A session other keys share: releasing the key deletes it alone.
    Shared(Session),
}

impl Holder {
    fn session(&self) -> &Session {
        match self {
            Holder::Own(session) | Holder::Shared(session) => session,
        }
    }
}

pub(crate) struct LeasedKey {
    pub(crate) key: String,
    /// The key's create revision once written: its place in a queue and its fencing token.
    pub(crate) token: u64,
    lease: LeaseId,
    /// `None` once released.
    holder: Option<Holder>,
}

impl LeasedKey {
    /// The key `key(lease)`, written at create revision `token`, on a session of its own.
    pub(crate) fn on(
        session: Session,
        key: impl FnOnce(LeaseId) -> String,
        token: u64,
    ) -> LeasedKey {
        Self::held(Holder::Own(session), key, token)
    }

    /// The key `key(lease)`, written at create revision `token`, on a shared session.
    pub(crate) fn on_shared(
        session: Session,
        key: impl FnOnce(LeaseId) -> String,
        token: u64,
    ) -> LeasedKey {
        Self::held(Holder::Shared(session), key, token)
    }

    fn held(holder: Holder, key: impl FnOnce(LeaseId) -> String, token: u64) -> LeasedKey {
        let lease = holder.session().id();
        LeasedKey {
            key: key(lease),
            token,
            lease,
            holder: Some(holder),
        }
    }

    /// The compare that holds only while this key exists as written.
    pub(crate) fn fence(&self) -> Compare {
        Compare::create_revision(&self.key, self.token)
    }

    /// The lease the key was written on (released or not).
    pub(crate) fn lease_id(&self) -> LeaseId {
        self.lease
    }

    /// The key's lease (`None` once released).
    pub(crate) fn lease(&self) -> Option<LeaseId> {
        self.session().map(Session::id)
    }

    fn session(&self) -> Option<&Session> {
        self.holder.as_ref().map(Holder::session)
    }

    /// Renews the lease now; [`Error::LeaseNotFound`] once it is lost or released (even if the
    /// server might still hold it: it is no longer kept alive).
    pub(crate) async fn renew(&self) -> Result<Duration> {
        match self.session() {
            Some(session) => session.renew().await,
            None => Err(Error::LeaseNotFound { lease: self.lease }),
        }
    }

    /// A receiver of the lease's state (lost once released).
    pub(crate) fn lease_state(&self) -> watch::Receiver<LeaseState> {
        match self.session() {
            Some(session) => session.subscribe(),
            None => watch::channel(LeaseState::Lost(LeaseLoss::Released)).1,
        }
    }

    /// Whether the lease is still believed alive.
    pub(crate) fn is_alive(&self) -> bool {
        self.session().is_some_and(Session::is_alive)
    }

    /// Waits until the lease is lost, returning why.
    pub(crate) async fn lost(&self) -> LeaseLoss {
        match self.session() {
            Some(session) => session.lost().await,
            None => LeaseLoss::Released,
        }
    }

    /// Deletes the key — revoking a lease of its own, deleting the key alone from a shared
    /// one: [`Error::Closed`] if it was already released, [`Error::LeaseNotFound`] if its
    /// lease had been lost (or, on a shared lease, the key deleted meanwhile).
    pub(crate) async fn release(&mut self) -> Result<()> {
        let holder = self.holder.take().ok_or_else(|| Error::Closed {
            what: format!("{} (already released)", self.key),
        })?;
        match holder {
            Holder::Own(session) => session.revoke().await,
            Holder::Shared(session) => {
                let alive = session.is_alive();
                let deleted = delete_as_written(session.backend(), &self.key, self.token).await?;
                match alive && deleted {
                    true => Ok(()),
                    false => Err(Error::LeaseNotFound { lease: self.lease }),
                }
            }
        }
    }
}

/// Deletes `key` if it is still the one written at `token`; whether it was.
async fn delete_as_written(backend: &Arc<dyn Backend>, key: &str, token: u64) -> Result<bool> {
    let txn = Txn::when([Compare::create_revision(key, token)]).then(TxnOp::delete(key));
    Ok(backend.txn(txn).await?.succeeded)
}

impl Drop for LeasedKey {
    fn drop(&mut self) {
        match self.holder.take() {
            Some(Holder::Own(session)) => session.revoke_in_background(),
            Some(Holder::Shared(session)) => {
                let (backend, key, token) =
                    (Arc::clone(session.backend()), self.key.clone(), self.token);
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move {
                        let _ = delete_as_written(&backend, &key, token).await;
                    });
                }
            }
            None => {}
        }
    }
}
