//! [`Ephemeral`] objects: an object bound to a lease this process keeps alive, gone when the
//! owner stops or dies (service registration, presence).

use std::sync::Mutex;
use std::time::Duration;

use tracing::instrument;

use super::leased_key::{LeasedKey, Leases};
use super::session::LeaseLoss;
use crate::backend::{PutLease, Txn, TxnOp};
use crate::codec::{Codec, CodecFor};
use crate::error::Result;
use crate::key::validate_key;
use crate::lease::LeaseId;
use crate::meta::Identity;
use crate::object::Object;
use crate::store::{Collection, Store};

/// An ephemeral key: its lease is kept alive in the background while this handle lives.
///
/// [`Ephemeral::set`] writes an object bound to the lease; the key disappears when the lease
/// is revoked ([`Ephemeral::destroy`], or dropping the handle) or expires (the owner died or
/// was cut off from the store for a TTL). [`Ephemeral::lost`] tells the owner when the lease is
/// lost, before the server can have expired it.
///
/// ```
/// # #[derive(Clone)] struct Node { metadata: kvstore_core::ObjectMeta, address: String }
/// # impl kvstore_core::Object for Node {
/// #     const KIND: &'static str = "Node"; const API_VERSION: &'static str = "v1";
/// #     fn metadata(&self) -> &kvstore_core::ObjectMeta { &self.metadata }
/// #     fn metadata_mut(&mut self) -> &mut kvstore_core::ObjectMeta { &mut self.metadata }
/// # }
/// # async fn demo<C: kvstore_core::CodecFor<Node>>(
/// #     store: kvstore_core::Store<C>, node: Node) -> kvstore_core::Result<()> {
/// use kvstore_core::coordination::Ephemeral;
/// let registration = Ephemeral::new(&store, "/nodes/a", std::time::Duration::from_secs(10)).await?;
/// registration.set(&node).await?;
/// // ... serve; the key vanishes within ten seconds if this process dies.
/// registration.destroy().await?;
/// # Ok(()) }
/// ```
pub struct Ephemeral<C> {
    store: Store<C>,
    entry: LeasedKey,
    /// The identity the first `set` created the object with.
    identity: Mutex<Option<Identity>>,
}

impl<C> std::fmt::Debug for Ephemeral<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ephemeral")
            .field("key", &self.entry.key)
            .field("lease", &self.entry.lease())
            .field("alive", &self.entry.is_alive())
            .finish()
    }
}

impl<C: Codec> Ephemeral<C> {
    /// Starts an ephemeral key at `key` of `store` on a fresh lease of `ttl`, kept alive in the
    /// background. Nothing is written until [`Ephemeral::set`]. A `ttl` below
    /// [`MIN_TTL`](super::MIN_TTL) is an [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    #[instrument(level = "debug", skip(store))]
    pub async fn new(store: &Store<C>, key: &str, ttl: Duration) -> Result<Ephemeral<C>> {
        validate_key(key)?;
        let leases = Leases::fresh("ephemeral", store.backend(), store.on_close(), ttl)?;
        let entry = leases.key(|_| key.to_owned()).await?;
        Ok(Ephemeral {
            store: store.clone(),
            entry,
            identity: Mutex::new(None),
        })
    }

    /// The ephemeral object named `name` of `collection` (in the handle's namespace), on a
    /// fresh lease of `ttl`: [`Ephemeral::new`] at its key.
    pub async fn for_collection<K: Object>(
        collection: &Collection<K, C>,
        name: &str,
        ttl: Duration,
    ) -> Result<Ephemeral<C>>
    where
        C: CodecFor<K>,
    {
        Self::new(collection.store(), &collection.key_of(name)?, ttl).await
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.entry.key
    }

    /// The lease the key is bound to (`None` once destroyed).
    pub fn lease(&self) -> Option<LeaseId> {
        self.entry.lease()
    }

    /// Whether the lease is still believed alive.
    pub fn is_alive(&self) -> bool {
        self.entry.is_alive()
    }

    /// Waits until the lease is lost (expired, revoked elsewhere, or the store unreachable for
    /// a TTL), returning why.
    pub async fn lost(&self) -> LeaseLoss {
        self.entry.lost().await
    }

    /// Renews the lease, then writes `object` at the key bound to it (creating or replacing
    /// whatever is there), returning it as stored. The first `set` creates the object (a fresh
    /// uid and creation timestamp); later ones keep that identity.
    /// [`Error::LeaseNotFound`](crate::Error::LeaseNotFound) if the lease was already lost:
    /// nothing is written then.
    #[instrument(level = "debug", skip(self, object), fields(key = %self.entry.key, kind = K::KIND))]
    pub async fn set<K: Object>(&self, object: &K) -> Result<K>
    where
        C: CodecFor<K>,
    {
        self.entry.renew().await?;
        let mut object = object.clone();
        let identity = *self
            .identity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_or_insert_with(|| object.metadata_mut().stamp_creation());
        object.metadata_mut().keep_identity(identity);
        let value = self.store.encode_value(&self.entry.key, &object)?;
        let put = TxnOp::put(
            &self.entry.key,
            value,
            PutLease::Attach(self.entry.lease_id()),
        );
        let response = self.store.backend().txn(Txn::default().then(put)).await?;
        object.metadata_mut().resource_version = Some(response.revision.to_string());
        Ok(object)
    }

    /// Renews the lease now (the background renewal goes on), returning its time to live;
    /// [`Error::LeaseNotFound`](crate::Error::LeaseNotFound) if it was lost.
    #[instrument(level = "debug", skip(self), fields(key = %self.entry.key))]
    pub async fn renew(&self) -> Result<Duration> {
        self.entry.renew().await
    }

    /// Revokes the lease: the key is deleted at once. An error if the lease was already lost.
    #[instrument(level = "debug", skip(self), fields(key = %self.entry.key))]
    pub async fn destroy(mut self) -> Result<()> {
        self.entry.release().await
    }
}
