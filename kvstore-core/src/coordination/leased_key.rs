//! A key on a lease this process keeps alive: an ephemeral object's key, or a contender's entry
//! in a queue. Dropping it revokes the lease in the background, deleting the key.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::session::{LeaseLoss, LeaseState, Session};
use crate::backend::{Backend, Compare};
use crate::error::{Error, Result};
use crate::lease::LeaseId;
use crate::store::OnClose;

pub(crate) struct LeasedKey {
    pub(crate) key: String,
    /// The key's create revision once written: its place in a queue and its fencing token.
    pub(crate) token: u64,
    lease: LeaseId,
    /// `None` once released.
    session: Option<Session>,
}

impl LeasedKey {
    /// A fresh session of `ttl` for the key `key(lease)`; nothing is written yet.
    pub(crate) async fn grant(
        backend: &Arc<dyn Backend>,
        on_close: &OnClose,
        ttl: Duration,
        key: impl FnOnce(LeaseId) -> String,
    ) -> Result<LeasedKey> {
        let session = Session::grant(backend, on_close, ttl).await?;
        Ok(Self::on(session, key, 0))
    }

    /// The key `key(lease)`, written at create revision `token`, on `session`.
    pub(crate) fn on(
        session: Session,
        key: impl FnOnce(LeaseId) -> String,
        token: u64,
    ) -> LeasedKey {
        LeasedKey {
            key: key(session.id()),
            token,
            lease: session.id(),
            session: Some(session),
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
        self.session.as_ref().map(Session::id)
    }

    /// Renews the lease now; [`Error::LeaseNotFound`] once it is lost or released (even if the
    /// server might still hold it: it is no longer kept alive).
    pub(crate) async fn renew(&self) -> Result<Duration> {
        match &self.session {
            Some(session) => session.renew().await,
            None => Err(Error::LeaseNotFound { lease: self.lease }),
        }
    }

    /// A receiver of the lease's state (lost once released).
    pub(crate) fn lease_state(&self) -> watch::Receiver<LeaseState> {
        match &self.session {
            Some(session) => session.subscribe(),
            None => watch::channel(LeaseState::Lost(LeaseLoss::Released)).1,
        }
    }

    /// Whether the lease is still believed alive.
    pub(crate) fn is_alive(&self) -> bool {
        self.session.as_ref().is_some_and(Session::is_alive)
    }

    /// Waits until the lease is lost, returning why.
    pub(crate) async fn lost(&self) -> LeaseLoss {
        match &self.session {
            Some(session) => session.lost().await,
            None => LeaseLoss::Released,
        }
    }

    /// Stops renewing and revokes the lease, deleting the key: [`Error::Closed`] if it was
    /// already released, [`Error::LeaseNotFound`] if it had been lost.
    pub(crate) async fn release(&mut self) -> Result<()> {
        let session = self.session.take().ok_or_else(|| Error::Closed {
            what: format!("{} (already released)", self.key),
        })?;
        session.revoke().await
    }
}

impl Drop for LeasedKey {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            session.revoke_in_background();
        }
    }
}
