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
    ///
    /// When the store loses the answer ([`Error::Ambiguous`]: the create may or may not have
    /// been applied), the create finds out itself: it reads the key, and an object there with
    /// the uid it gave is its own (returned as created); an absent key is created again, on the
    /// same condition. Only when that cannot be learnt either is the error `Ambiguous`.
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
        crate::metrics::measured("create", K::KIND, async {
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
            let response = match self
                .inner
                .backend
                .txn(create(key, value.clone(), lease))
                .await
            {
                Err(err) if err.is_ambiguous() => {
                    return self
                        .settle_create(key, object, create(key, value, lease), err)
                        .await
                }
                other => other?,
            };
            if !response.succeeded {
                return Err(Error::AlreadyExists {
                    key: key.to_owned(),
                });
            }
            set_resource_version(&mut object, response.revision);
            Ok(object)
        })
        .await
    }

    /// Learns the outcome of a create whose answer was lost (`txn` is the create again): its own object (same uid) at the
    /// key is success, another object is [`Error::AlreadyExists`], an absent key is created
    /// again (the same transaction: it still creates only an absent key, so a first attempt
    /// that lands late cannot create twice). `lost` when the outcome stays unknown.
    async fn settle_create<K: Object>(
        &self,
        key: &str,
        mut object: K,
        txn: Txn,
        lost: Error,
    ) -> Result<K>
    where
        C: CodecFor<K>,
    {
        const ATTEMPTS: usize = 3;
        let uid = object.metadata().uid;
        for _ in 0..ATTEMPTS {
            match self.get_raw(key).await {
                Ok(kv) => {
                    return match self.decode::<K>(&kv) {
                        Ok(stored) if stored.metadata().uid == uid => {
                            tracing::debug!(key, "a create whose answer was lost had been applied");
                            Ok(stored)
                        }
                        _ => Err(Error::AlreadyExists {
                            key: key.to_owned(),
                        }),
                    };
                }
                Err(err) if err.is_not_found() => {}
                // Still nothing known.
                Err(_) => return Err(lost),
            }
            match self.inner.backend.txn(txn.clone()).await {
                Ok(response) if response.succeeded => {
                    set_resource_version(&mut object, response.revision);
                    return Ok(object);
                }
                // Created meanwhile, perhaps by the first attempt: read again.
                Ok(_) => {}
                Err(err) if err.is_ambiguous() => {}
                Err(err) => return Err(err),
            }
        }
        Err(lost)
    }
}

/// The transaction that creates `key` holding `value`, on condition it is absent.
fn create(key: &str, value: bytes::Bytes, lease: PutLease) -> Txn {
    Txn::when([Compare::absent(key)]).then(TxnOp::put(key, value, lease))
}
