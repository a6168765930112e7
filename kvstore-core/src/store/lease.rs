//! Leases: grant, keep alive, revoke.

use std::time::Duration;

use tracing::instrument;

use super::Store;
use crate::backend::{whole_seconds, Lease, LeaseId};
use crate::codec::Codec;
use crate::error::Result;

impl<C: Codec> Store<C> {
    /// Grants a lease of `ttl`, rounded up to whole seconds (at least one).
    #[instrument(level = "debug", skip(self))]
    pub async fn grant_lease(&self, ttl: Duration) -> Result<Lease> {
        self.inner.backend.lease_grant(whole_seconds(ttl)).await
    }

    /// Renews a lease for its full time to live, returning it.
    /// [`Error::LeaseNotFound`](crate::Error::LeaseNotFound) when it already expired.
    #[instrument(level = "debug", skip(self))]
    pub async fn keep_alive(&self, lease: LeaseId) -> Result<Duration> {
        self.inner.backend.lease_keep_alive(lease).await
    }

    /// Keeps `lease` alive in the background until the returned handle drops, and reports when
    /// it is lost; see [`KeepAlive`](crate::KeepAlive).
    pub fn keep_alive_in_background(&self, lease: crate::Lease) -> crate::KeepAlive {
        crate::KeepAlive::start(std::sync::Arc::clone(&self.inner.backend), lease)
    }

    /// Revokes a lease: every key attached to it is deleted at once.
    #[instrument(level = "debug", skip(self))]
    pub async fn revoke(&self, lease: LeaseId) -> Result<()> {
        self.inner.backend.lease_revoke(lease).await
    }
}
