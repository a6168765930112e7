//! Update: compare-and-swap on the resource version, the explicit unconditional write, and
//! read-modify-write with bounded retries.

use std::convert::Infallible;

use bytes::Bytes;
use tracing::instrument;

use super::{parse_resource_version, set_resource_version, Store};
use crate::backend::{Compare, KeyValue, PutLease, Txn, TxnOp};
use crate::codec::{Codec, CodecFor};
use crate::error::{BoxError, Error, Result};
use crate::key::validate_key;
use crate::object::Object;

/// The outcome of a conditional put.
enum Written {
    /// Written at this revision.
    At(u64),
    /// The condition failed; the key's current value, if it exists.
    Failed(Option<KeyValue>),
}

impl<C: Codec> Store<C> {
    /// Replaces the object at `key` if it is still at the object's resource version
    /// (compare-and-swap). [`Error::Conflict`] carries the current version on mismatch,
    /// [`Error::NotFound`] if the key is missing, and a missing resource version is an
    /// [`Error::InvalidArgument`]: use [`Store::update_unconditionally`] to mean it. The key's
    /// lease, if any, is kept. One round trip.
    #[instrument(level = "debug", skip(self, object), fields(kind = K::KIND))]
    pub async fn update<K: Object>(&self, key: &str, object: &K) -> Result<K>
    where
        C: CodecFor<K>,
    {
        crate::metrics::measured("update", K::KIND, async {
            validate_key(key)?;
            let expected = match &object.metadata().resource_version {
                Some(rv) => parse_resource_version(rv)?,
                None => {
                    return Err(Error::InvalidArgument(format!(
                        "{key}: update needs the object's resource version; \
                         use update_unconditionally to overwrite whatever is stored"
                    )))
                }
            };
            let mut object = object.clone();
            let value = self.encode(key, &mut object)?;
            match self
                .put_if(key, Compare::mod_revision(key, expected), value)
                .await?
            {
                Written::At(revision) => {
                    set_resource_version(&mut object, revision);
                    Ok(object)
                }
                Written::Failed(Some(current)) => Err(Error::conflict(key, current.mod_revision)),
                Written::Failed(None) => Err(Error::not_found(key)),
            }
        })
        .await
    }

    /// Replaces the object at `key` whatever its resource version; [`Error::NotFound`] if the key
    /// is missing. Like every write, it never replaces a value of another kind
    /// ([`Error::KindMismatch`] naming the key; bytes of no readable kind are a codec error and
    /// are left as they are). The key's lease, if any, is kept. Two round trips: a read, then a
    /// compare-and-swap at the version read (repeated if the key changed in between).
    #[instrument(level = "debug", skip(self, object), fields(kind = K::KIND))]
    pub async fn update_unconditionally<K: Object>(&self, key: &str, object: &K) -> Result<K>
    where
        C: CodecFor<K>,
    {
        crate::metrics::measured("update", K::KIND, async {
            validate_key(key)?;
            let mut object = object.clone();
            let value = self.encode(key, &mut object)?;
            let mut current = self.get_raw(key).await?;
            for _ in 0..self.inner.max_update_attempts {
                self.expect_kind::<K>(&current)?;
                let compare = Compare::mod_revision(key, current.mod_revision);
                match self.put_if(key, compare, value.clone()).await? {
                    Written::At(revision) => {
                        set_resource_version(&mut object, revision);
                        return Ok(object);
                    }
                    Written::Failed(None) => return Err(Error::not_found(key)),
                    Written::Failed(Some(fresh)) => current = fresh,
                }
            }
            Err(Error::TooManyConflicts {
                key: key.to_owned(),
                attempts: self.inner.max_update_attempts,
            })
        })
        .await
    }

    /// Read-modify-write: reads the object at `key`, applies `modify`, and writes it back with a
    /// compare-and-swap; on conflict it retries at once from the value the failed
    /// compare-and-swap read, a bounded number of times ([`Store::with_max_update_attempts`];
    /// [`Error::TooManyConflicts`] when exhausted). When the modified object encodes to
    /// the stored bytes, nothing is written and the current object is returned.
    ///
    /// ```
    /// # #[derive(Clone)] struct Counter { metadata: kvstore_core::ObjectMeta, value: u64 }
    /// # impl kvstore_core::Object for Counter {
    /// #     const KIND: &'static str = "Counter"; const API_VERSION: &'static str = "v1";
    /// #     fn metadata(&self) -> &kvstore_core::ObjectMeta { &self.metadata }
    /// #     fn metadata_mut(&mut self) -> &mut kvstore_core::ObjectMeta { &mut self.metadata }
    /// # }
    /// # async fn demo<C: kvstore_core::CodecFor<Counter>>(
    /// #     store: kvstore_core::Store<C>) -> kvstore_core::Result<()> {
    /// let counter = store
    ///     .guaranteed_update("/counters/hits", |c: &mut Counter| c.value += 1)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[instrument(level = "debug", skip(self, modify), fields(kind = K::KIND))]
    pub async fn guaranteed_update<K: Object>(
        &self,
        key: &str,
        mut modify: impl FnMut(&mut K) + Send,
    ) -> Result<K>
    where
        C: CodecFor<K>,
    {
        self.try_guaranteed_update(key, |object: &mut K| {
            modify(object);
            Ok::<(), Infallible>(())
        })
        .await
    }

    /// Like [`Store::guaranteed_update`], but `modify` may refuse with an error, which is
    /// returned as [`Error::Aborted`] with nothing written.
    #[instrument(level = "debug", skip(self, modify), fields(kind = K::KIND))]
    pub async fn try_guaranteed_update<K: Object, E: Into<BoxError>>(
        &self,
        key: &str,
        mut modify: impl FnMut(&mut K) -> Result<(), E> + Send,
    ) -> Result<K>
    where
        C: CodecFor<K>,
    {
        crate::metrics::measured("guaranteed_update", K::KIND, async {
            // The first read may be stale (cheaper on a replicated store): the compare-and-swap
            // checks it. What is answered without a write — nothing to change, nothing found — is
            // read again linearizably first.
            let mut current = match self.get_raw_possibly_stale(key).await? {
                Some(found) => found,
                None => self.get_raw(key).await?,
            };
            let mut proven = false;
            for attempt in 1..=self.inner.max_update_attempts {
                let original: K = self.decode(&current)?;
                let mut object = original.clone();
                modify(&mut object).map_err(|source| Error::Aborted {
                    key: key.to_owned(),
                    source: source.into(),
                })?;
                // Unchanged when it encodes to what is stored (compared before sealing: an
                // encrypting codec seals the same bytes differently every time).
                let encoded = self.encode_unsealed(key, &mut object)?;
                if *self.opened(&current)? == *encoded {
                    if proven {
                        return Ok(original);
                    }
                    current = self.get_raw(key).await?;
                    proven = true;
                    continue;
                }
                let value = self.seal(key, encoded)?;
                let compare = Compare::mod_revision(key, current.mod_revision);
                match self.put_if(key, compare, value).await? {
                    Written::At(revision) => {
                        set_resource_version(&mut object, revision);
                        return Ok(object);
                    }
                    Written::Failed(None) => return Err(Error::not_found(key)),
                    Written::Failed(Some(fresh)) => {
                        // Retry at once from the value the failed transaction read: every round of
                        // contending writers lets one through, and waiting would only make the
                        // fresh value stale again.
                        tracing::trace!(attempt, "conflict, retrying from the fresh value");
                        metrics::counter!(crate::metrics::UPDATE_CONFLICTS, "kind" => K::KIND)
                            .increment(1);
                        current = fresh;
                        proven = true;
                    }
                }
            }
            Err(Error::TooManyConflicts {
                key: key.to_owned(),
                attempts: self.inner.max_update_attempts,
            })
        })
        .await
    }

    /// Puts `value` at `key` if `compare` holds, keeping the key's lease; otherwise reads the key.
    async fn put_if(&self, key: &str, compare: Compare, value: Bytes) -> Result<Written> {
        let txn = Txn::when([compare])
            .then(TxnOp::put(key, value, PutLease::Keep))
            .otherwise(TxnOp::get(key));
        let response = self.inner.backend.txn(txn).await?;
        if response.succeeded {
            Ok(Written::At(response.revision))
        } else {
            Ok(Written::Failed(response.read_value()))
        }
    }
}
