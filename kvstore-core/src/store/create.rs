//! Create: write a new object, failing if the key exists.

use std::time::Duration;

use chrono::Utc;
use tracing::instrument;
use uuid::Uuid;

use super::{set_resource_version, Store};
use crate::backend::{Compare, Lease, LeaseId, PutLease, Txn, TxnOp};
use crate::codec::Encode;
use crate::error::{Error, Result};
use crate::key::validate_key;
use crate::object::Object;

impl<C: crate::codec::Codec> Store<C> {
    /// Creates `object` at `key`, returning it as stored (with uid, creation timestamp and
    /// resource version). [`Error::AlreadyExists`] if the key exists; the object must not carry a
    /// resource version. One round trip.
    #[instrument(level = "debug", skip(self, object), fields(kind = K::KIND))]
    pub async fn create<K: Object>(&self, key: &str, object: &K) -> Result<K>
    where
        C: Encode<K>,
    {
        self.create_with(key, object, PutLease::Detach).await
    }

    /// Creates `object` at `key` attached to a lease: it disappears when the lease expires or is
    /// revoked.
    #[instrument(level = "debug", skip(self, object), fields(kind = K::KIND))]
    pub async fn create_with_lease<K: Object>(
        &self,
        key: &str,
        object: &K,
        lease: LeaseId,
    ) -> Result<K>
    where
        C: Encode<K>,
    {
        self.create_with(key, object, PutLease::Attach(lease)).await
    }

    /// Creates `object` at `key` with a time to live: grants a lease of `ttl` (rounded up to
    /// whole seconds) and attaches the object to it. Keep it alive with [`Store::keep_alive`].
    #[instrument(level = "debug", skip(self, object), fields(kind = K::KIND))]
    pub async fn create_with_ttl<K: Object>(
        &self,
        key: &str,
        object: &K,
        ttl: Duration,
    ) -> Result<(K, Lease)>
    where
        C: Encode<K>,
    {
        validate_key(key)?;
        let lease = self.grant_lease(ttl).await?;
        match self
            .create_with(key, object, PutLease::Attach(lease.id))
            .await
        {
            Ok(created) => Ok((created, lease)),
            Err(err) => {
                if let Err(revoke) = self.revoke(lease.id).await {
                    tracing::warn!(%revoke, lease = %lease.id, "could not revoke unused lease");
                }
                Err(err)
            }
        }
    }

    async fn create_with<K: Object>(&self, key: &str, object: &K, lease: PutLease) -> Result<K>
    where
        C: Encode<K>,
    {
        validate_key(key)?;
        if let Some(rv) = &object.metadata().resource_version {
            return Err(Error::InvalidArgument(format!(
                "{key}: resource version {rv:?} must not be set on create"
            )));
        }
        let mut object = object.clone();
        let meta = object.metadata_mut();
        meta.uid = Some(Uuid::new_v4());
        meta.creation_timestamp = Some(Utc::now());
        let value = self.encode(key, &mut object)?;
        let response = self
            .inner
            .backend
            .txn(Txn {
                compare: vec![Compare::absent(key)],
                success: vec![TxnOp::Put {
                    key: key.to_owned(),
                    value,
                    lease,
                }],
                failure: vec![],
            })
            .await?;
        if !response.succeeded {
            return Err(Error::AlreadyExists {
                key: key.to_owned(),
            });
        }
        set_resource_version(&mut object, response.revision);
        Ok(object)
    }
}
