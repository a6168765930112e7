//! Leases: grant, renew once, revoke. A lease kept alive in the background is a
//! [`Session`](crate::coordination::Session).

use std::time::Duration;

use tracing::instrument;

use super::Store;
use crate::codec::Codec;
use crate::error::Result;
use crate::lease::{whole_seconds, Lease, LeaseId, LeaseInfo};

impl<C: Codec> Store<C> {
    /// Grants a lease of `ttl`, rounded up to whole seconds (at least one).
    #[instrument(level = "debug", skip(self))]
    pub async fn lease_grant(&self, ttl: Duration) -> Result<Lease> {
        self.inner.backend.lease_grant(whole_seconds(ttl)).await
    }

    /// Renews a lease once, for its full time to live, returning it.
    /// [`Error::LeaseNotFound`](crate::Error::LeaseNotFound) when it already expired.
    #[instrument(level = "debug", skip(self))]
    pub async fn lease_renew(&self, lease: LeaseId) -> Result<Duration> {
        self.inner.backend.lease_renew(lease).await
    }

    /// Revokes a lease: every key attached to it is deleted at once.
    #[instrument(level = "debug", skip(self))]
    pub async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        self.inner.backend.lease_revoke(lease).await
    }

    /// Reads a lease without renewing it: its time to live, the time left, its keys; `None`
    /// when it does not exist. Under a [namespace](crate::backend::Namespaced), only its keys
    /// in the namespace, without the namespace.
    #[instrument(level = "debug", skip(self))]
    pub async fn lease_info(&self, lease: LeaseId) -> Result<Option<LeaseInfo>> {
        self.inner.backend.lease_info(lease).await
    }

    /// Every live lease (under a [namespace](crate::backend::Namespaced): those holding keys in
    /// it), by id.
    #[instrument(level = "debug", skip(self))]
    pub async fn leases(&self) -> Result<Vec<LeaseId>> {
        self.inner.backend.leases().await
    }
}
