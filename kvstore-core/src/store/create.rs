//! Create: write a new object, failing if the key exists.

use tracing::instrument;

use super::options::CreateOptions;
use super::{set_resource_version, Store};
use crate::backend::{Compare, PutLease, Txn, TxnOp};
use crate::codec::CodecFor;
use crate::error::{Error, Result};
use crate::key::validate_key;
use crate::object::Object;

impl<C: crate::codec::Codec> Store<C> {
    /// Creates `object` at `key`, returning it as stored (with a new uid and creation
    /// timestamp, see [`ObjectMeta`](crate::ObjectMeta), and its resource version).
    /// [`Error::AlreadyExists`] if the key exists; the object must not carry a resource version.
    /// One round trip.
    #[instrument(level = "debug", skip(self, object), fields(kind = K::KIND))]
    pub async fn create<K: Object>(&self, key: &str, object: &K) -> Result<K>
    where
        C: CodecFor<K>,
    {
        self.create_with(key, object, &CreateOptions::default())
            .await
    }

    /// [`Store::create`] with options: attached to a lease, the object disappears when the
    /// lease expires or is revoked.
    #[instrument(level = "debug", skip(self, object), fields(kind = K::KIND))]
    pub async fn create_with<K: Object>(
        &self,
        key: &str,
        object: &K,
        options: &CreateOptions,
    ) -> Result<K>
    where
        C: CodecFor<K>,
    {
        validate_key(key)?;
        if let Some(rv) = &object.metadata().resource_version {
            return Err(Error::InvalidArgument(format!(
                "{key}: resource version {rv:?} must not be set on create"
            )));
        }
        let mut object = object.clone();
        object.metadata_mut().stamp_creation();
        let value = self.encode(key, &mut object)?;
        let lease = options.lease.map_or(PutLease::Detach, PutLease::Attach);
        let txn = Txn::when([Compare::absent(key)]).then(TxnOp::put(key, value, lease));
        let response = self.inner.backend.txn(txn).await?;
        if !response.succeeded {
            return Err(Error::AlreadyExists {
                key: key.to_owned(),
            });
        }
        set_resource_version(&mut object, response.revision);
        Ok(object)
    }
}
