//! Get: read one object.

use tracing::instrument;

use super::Store;
use crate::backend::{KeyValue, RangeRequest};
use crate::codec::{Codec, CodecFor};
use crate::error::{Error, Result};
use crate::key::validate_key;
use crate::object::Object;
use crate::scheme::DynObject;

impl<C: Codec> Store<C> {
    /// Reads the object at `key` (linearizable). [`Error::NotFound`] if missing; a value of
    /// another kind gives [`Error::KindMismatch`].
    #[instrument(level = "debug", skip(self), fields(kind = K::KIND))]
    pub async fn get<K: Object>(&self, key: &str) -> Result<K>
    where
        C: CodecFor<K>,
    {
        crate::metrics::measured("get", K::KIND, async {
            let kv = self.get_raw(key).await?;
            self.decode(&kv)
        })
        .await
    }

    /// Whether a value is stored at `key`, whatever its kind (libkv's `Exists`); linearizable.
    #[instrument(level = "debug", skip(self))]
    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.get_raw(key).await {
            Ok(_) => Ok(true),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Reads the object at `key` whatever its kind, decoded through the [`Scheme`](crate::Scheme).
    #[instrument(level = "debug", skip(self))]
    pub async fn get_dynamic(&self, key: &str) -> Result<DynObject> {
        crate::metrics::measured("get", "-", async {
            let kv = self.get_raw(key).await?;
            self.decode_dynamic(&kv)
        })
        .await
    }

    pub(super) fn decode_dynamic(&self, kv: &KeyValue) -> Result<DynObject> {
        let mut object = self
            .inner
            .scheme
            .decode(&self.inner.codec, &kv.key, &kv.value)?;
        object.metadata_mut().resource_version = Some(kv.mod_revision.to_string());
        Ok(object)
    }

    /// Reads the raw key-value at `key`.
    /// The stored value of `key`, possibly stale ([`crate::Backend::get_possibly_stale`]); `None`
    /// when not found there (which a stale read cannot prove).
    pub(super) async fn get_raw_possibly_stale(&self, key: &str) -> Result<Option<KeyValue>> {
        validate_key(key)?;
        let response = self.inner.backend.get_possibly_stale(key).await?;
        Ok(response.kvs.into_iter().next())
    }

    pub(super) async fn get_raw(&self, key: &str) -> Result<KeyValue> {
        validate_key(key)?;
        let response = self.inner.backend.range(RangeRequest::key(key)).await?;
        response
            .kvs
            .into_iter()
            .next()
            .ok_or_else(|| Error::not_found(key))
    }
}
