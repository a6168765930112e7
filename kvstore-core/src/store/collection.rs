//! [`Collection`]: a typed handle on the objects of one kind under a prefix, addressed by name.

use std::marker::PhantomData;

use super::options::{ListOptions, Preconditions, WatchOptions};
use super::watch::WatchStream;
use super::Store;
use crate::codec::{Codec, CodecFor};
use crate::error::{BoxError, Error, Result};
use crate::key::{join, validate_key, validate_segment};
use crate::object::{Object, ObjectList};

/// The objects of kind `K` under a prefix, addressed by name (and namespace): an object named
/// `alice` in namespace `team-a` of the collection `/users` lives at `/users/team-a/alice`,
/// one without a namespace at `/users/alice`.
///
/// Created by [`Store::collection`]; cheap to clone.
pub struct Collection<K, C> {
    pub(super) store: Store<C>,
    pub(super) prefix: String,
    pub(super) namespace: Option<String>,
    kind: PhantomData<fn() -> K>,
}

impl<K, C> Clone for Collection<K, C> {
    fn clone(&self) -> Self {
        Collection {
            store: self.store.clone(),
            prefix: self.prefix.clone(),
            namespace: self.namespace.clone(),
            kind: PhantomData,
        }
    }
}

impl<K, C> std::fmt::Debug for Collection<K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("prefix", &self.prefix)
            .field("namespace", &self.namespace)
            .finish()
    }
}

/// The directory a kind's objects live under unless told otherwise: `/` and the kind in lower
/// case (`User` → `/user`, `ConfigMap` → `/configmap`). [`Store::default_collection`] uses it,
/// and so does the `kvstore` command line for `kvstore get KIND NAME`, so both find the same
/// keys. Two kinds of one name in different API groups need a prefix of their own.
///
/// ```
/// assert_eq!(kvstore_core::default_prefix("ConfigMap"), "/configmap");
/// ```
pub fn default_prefix(kind: &str) -> String {
    format!("/{}", kind.to_lowercase())
}

impl<C: Codec> Store<C> {
    /// A typed handle on the objects of kind `K` under its [`default_prefix`].
    pub fn default_collection<K: Object>(&self) -> Result<Collection<K, C>>
    where
        C: CodecFor<K>,
    {
        self.collection(&default_prefix(K::KIND))
    }

    /// A typed handle on the objects of kind `K` under the directory `prefix`.
    pub fn collection<K: Object>(&self, prefix: &str) -> Result<Collection<K, C>>
    where
        C: CodecFor<K>,
    {
        validate_key(prefix)?;
        Ok(Collection {
            store: self.clone(),
            prefix: prefix.to_owned(),
            namespace: None,
            kind: PhantomData,
        })
    }
}

impl<K: Object, C: CodecFor<K>> Collection<K, C> {
    /// The same collection restricted to `namespace`.
    pub fn namespaced(&self, namespace: &str) -> Result<Self> {
        validate_segment(namespace)?;
        Ok(Collection {
            namespace: Some(namespace.to_owned()),
            ..self.clone()
        })
    }

    /// The store the collection is on.
    pub fn store(&self) -> &Store<C> {
        &self.store
    }

    /// The directory this handle lists and watches.
    pub fn directory(&self) -> String {
        match &self.namespace {
            Some(ns) => join(&self.prefix, ns),
            None => self.prefix.clone(),
        }
    }

    /// The key of the object named `name` in this handle's namespace.
    pub fn key_of(&self, name: &str) -> Result<String> {
        validate_segment(name)?;
        Ok(join(&self.directory(), name))
    }

    /// Where coordination about the object named `name` lives:
    /// `<prefix>.coordination/<namespace>/<name>`, with its lock under `…/lock` and its
    /// election under `…/election` — a sibling directory of the collection's, so lists and
    /// watches of the collection never meet a lock or election entry.
    pub fn coordination_key(&self, name: &str) -> Result<String> {
        validate_segment(name)?;
        let directory = format!("{}.coordination", self.prefix);
        Ok(match &self.namespace {
            Some(ns) => join(&join(&directory, ns), name),
            None => join(&directory, name),
        })
    }

    /// The key of `object`, from its name and namespace.
    fn key_for(&self, object: &K) -> Result<String> {
        let meta = object.metadata();
        let namespace = match (&self.namespace, &meta.namespace) {
            (Some(mine), Some(theirs)) if mine != theirs => {
                return Err(Error::InvalidArgument(format!(
                    "object {} is in namespace {theirs:?}, not {mine:?}",
                    meta.name
                )))
            }
            (Some(ns), _) | (None, Some(ns)) => Some(ns),
            (None, None) => None,
        };
        validate_segment(&meta.name)?;
        Ok(match namespace {
            Some(ns) => {
                validate_segment(ns)?;
                join(&join(&self.prefix, ns), &meta.name)
            }
            None => join(&self.prefix, &meta.name),
        })
    }

    /// Creates `object` under its name; see [`Store::create`].
    pub async fn create(&self, object: &K) -> Result<K> {
        let mut object = object.clone();
        if object.metadata().namespace.is_none() {
            object.metadata_mut().namespace = self.namespace.clone();
        }
        let key = self.key_for(&object)?;
        self.record_storage_version().await?;
        self.store.create(&key, &object).await
    }

    /// Reads the object named `name`; see [`Store::get`].
    pub async fn get(&self, name: &str) -> Result<K> {
        self.store.get(&self.key_of(name)?).await
    }

    /// Lists the collection (every namespace unless restricted); see [`Store::list`].
    pub async fn list(&self, options: &ListOptions) -> Result<ObjectList<K>> {
        self.store.list(&self.directory(), options).await
    }

    /// Compare-and-swap update of `object`; see [`Store::update`].
    pub async fn update(&self, object: &K) -> Result<K> {
        let key = self.key_for(object)?;
        self.record_storage_version().await?;
        self.store.update(&key, object).await
    }

    /// Unconditional update of `object`; see [`Store::update_unconditionally`].
    pub async fn update_unconditionally(&self, object: &K) -> Result<K> {
        let key = self.key_for(object)?;
        self.record_storage_version().await?;
        self.store.update_unconditionally(&key, object).await
    }

    /// Read-modify-write of the object named `name`; see [`Store::guaranteed_update`].
    pub async fn guaranteed_update(
        &self,
        name: &str,
        modify: impl FnMut(&mut K) + Send,
    ) -> Result<K> {
        let key = self.key_of(name)?;
        self.record_storage_version().await?;
        self.store.guaranteed_update(&key, modify).await
    }

    /// Fallible read-modify-write; see [`Store::try_guaranteed_update`].
    pub async fn try_guaranteed_update<E: Into<BoxError>>(
        &self,
        name: &str,
        modify: impl FnMut(&mut K) -> Result<(), E> + Send,
    ) -> Result<K> {
        let key = self.key_of(name)?;
        self.record_storage_version().await?;
        self.store.try_guaranteed_update(&key, modify).await
    }

    /// Deletes the object named `name`; see [`Store::delete`].
    pub async fn delete(&self, name: &str, preconditions: &Preconditions) -> Result<K> {
        self.store.delete(&self.key_of(name)?, preconditions).await
    }

    /// Watches the collection (every namespace unless restricted) with the options of
    /// [`Store::watch_prefix_with`]: a start point, a [`Selection`](crate::Selection),
    /// bookmarks. `&WatchOptions::starting(WatchFrom::InitialState)` is the usual start.
    pub async fn watch(&self, options: &WatchOptions) -> Result<WatchStream<K>> {
        self.store
            .watch_prefix_with(&self.directory(), options)
            .await
    }
}
