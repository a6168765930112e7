//! [`Store`]: typed objects on any [`Backend`], with the semantics written once.

mod collection;
mod continue_token;
mod create;
mod delete;
mod head;
mod lease;
mod lifecycle;
mod list;
mod migration;
mod options;
mod read;
mod selection;
mod stored_versions;
mod transaction;
mod update;
mod watch;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

pub use collection::{default_prefix, Collection};
pub use migration::{MigrateOptions, MigrationProgress};
pub use options::{CreateOptions, ListOptions, Preconditions, WatchFrom, WatchOptions};
pub use selection::Selection;
pub use stored_versions::StoredVersions;
pub use transaction::{Transaction, TxnConflict, TxnOutcome, MAX_TXN_OPS};
pub use watch::{KeyedEvent, KeyedWatchStream, WatchEvent, WatchStream};

use crate::backend::{Backend, Capabilities, KeyValue};
use crate::codec::{Codec, CodecFor};
use crate::error::{Error, Result};
use crate::meta::TypeMeta;
use crate::object::Object;
use crate::resource_version::ResourceVersion;
use crate::scheme::{Scheme, LOSSY_CONVERSION_ANNOTATION};

/// How many times a read-modify-write tries before giving up, unless configured otherwise.
pub const DEFAULT_MAX_UPDATE_ATTEMPTS: u32 = 100;

/// The largest encoded object a store writes on every backend kvstore ships, unless configured
/// otherwise: [`Capabilities::MAX_VALUE_SIZE`] (etcd's request limit less room for the key and
/// the transaction). A store takes its backend's limit ([`Backend::capabilities`]).
pub const DEFAULT_MAX_VALUE_SIZE: usize = Capabilities::MAX_VALUE_SIZE;

use lifecycle::Lifecycle;
pub use lifecycle::{OnClose, RevokeOnClose};

struct Inner<C> {
    /// The backend as users see it: closed with the store.
    backend: Arc<dyn Backend>,
    /// The newest revision the backend answered with.
    head: Arc<head::Head>,
    /// The backend itself, for closing.
    raw: Arc<dyn Backend>,
    lifecycle: Arc<Lifecycle>,
    codec: Arc<C>,
    scheme: Arc<Scheme<C>>,
    max_update_attempts: u32,
    max_value_size: usize,
    /// The stored-versions records this store brought up to date.
    recorded: Arc<stored_versions::Recorded>,
}

/// Typed objects on a backend, encoded with codec `C`.
///
/// Cheap to clone: clones share the backend, codec and scheme. Every operation validates its
/// key, runs in a `tracing` span, and returns a typed [`Error`].
pub struct Store<C> {
    inner: Arc<Inner<C>>,
}

impl<C> Clone for Store<C> {
    fn clone(&self) -> Self {
        Store {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C> fmt::Debug for Store<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend.name())
            .finish_non_exhaustive()
    }
}

impl<C: Codec> Store<C> {
    /// A store on `backend` using `codec`, with an empty [`Scheme`].
    pub fn new(backend: impl Backend, codec: C) -> Self {
        Self::new_shared(Arc::new(backend), codec)
    }

    /// A store on a backend already shared as `Arc<dyn Backend>` (chosen at run time, or
    /// shared with other stores).
    pub fn new_shared(backend: Arc<dyn Backend>, codec: C) -> Self {
        let lifecycle = Lifecycle::new();
        let head = Arc::new(head::Head::default());
        let max_value_size = backend.capabilities().max_value_size;
        Store {
            inner: Arc::new(Inner {
                backend: closable(&backend, &lifecycle, &head),
                head,
                raw: backend,
                lifecycle,
                codec: Arc::new(codec),
                scheme: Arc::new(Scheme::new()),
                max_update_attempts: DEFAULT_MAX_UPDATE_ATTEMPTS,
                max_value_size,
                recorded: Arc::default(),
            }),
        }
    }

    /// The same store (same backend and codec) decoding values of unknown kind with `scheme`
    /// ([`Store::get_dynamic`], [`Store::list_dynamic`]).
    pub fn with_scheme(&self, scheme: Scheme<C>) -> Self {
        Store {
            inner: Arc::new(Inner {
                scheme: Arc::new(scheme),
                ..self.share()
            }),
        }
    }

    /// The same store making up to `attempts` attempts per read-modify-write before
    /// [`Error::TooManyConflicts`].
    pub fn with_max_update_attempts(&self, attempts: u32) -> Self {
        Store {
            inner: Arc::new(Inner {
                max_update_attempts: attempts.max(1),
                ..self.share()
            }),
        }
    }

    /// The same store refusing to write an encoded object larger than `bytes`
    /// ([`Error::ValueTooLarge`], naming the key; default [`DEFAULT_MAX_VALUE_SIZE`]). The limit
    /// is the store's, so it is the same on every backend; a backend's own server limit (etcd's
    /// `--max-request-bytes`) should not be below it.
    pub fn with_max_value_size(&self, bytes: usize) -> Self {
        Store {
            inner: Arc::new(Inner {
                max_value_size: bytes,
                ..self.share()
            }),
        }
    }

    /// The same codec, scheme and settings on another backend — typically a wrapper around this
    /// store's backend that adds metrics, logging or injected faults.
    pub fn on_backend(&self, backend: Arc<dyn Backend>) -> Self {
        Store {
            inner: Arc::new(Inner {
                backend: closable(&backend, &self.inner.lifecycle, &self.inner.head),
                raw: backend,
                ..self.share()
            }),
        }
    }

    fn share(&self) -> Inner<C> {
        Inner {
            backend: Arc::clone(&self.inner.backend),
            head: Arc::clone(&self.inner.head),
            raw: Arc::clone(&self.inner.raw),
            lifecycle: Arc::clone(&self.inner.lifecycle),
            codec: Arc::clone(&self.inner.codec),
            scheme: Arc::clone(&self.inner.scheme),
            max_update_attempts: self.inner.max_update_attempts,
            max_value_size: self.inner.max_value_size,
            recorded: Arc::clone(&self.inner.recorded),
        }
    }

    /// The byte-level backend this store is written on, for calls the typed store does not
    /// make (raw transactions, fenced writes).
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.backend
    }

    /// What the store's backend can do, and the limits this store enforces: the backend's
    /// [`Capabilities`] with the store's own value-size limit
    /// ([`Store::with_max_value_size`]).
    pub fn capabilities(&self) -> Capabilities {
        let mut capabilities = self.inner.backend.capabilities();
        capabilities.max_value_size = self.inner.max_value_size;
        capabilities
    }

    /// How many attempts a read-modify-write makes.
    pub(crate) fn max_update_attempts(&self) -> u32 {
        self.inner.max_update_attempts
    }

    /// The stored-versions records this store brought up to date.
    pub(crate) fn versions_recorded(&self) -> &stored_versions::Recorded {
        &self.inner.recorded
    }

    /// The codec values are encoded with.
    pub fn codec(&self) -> &C {
        &self.inner.codec
    }

    /// The scheme [`Store::get_dynamic`] and [`Store::list_dynamic`] decode with.
    pub fn scheme(&self) -> &Scheme<C> {
        &self.inner.scheme
    }

    /// Closes the store and every store derived from it (`with_*`, `on_backend`): the leases
    /// its [`Session`](crate::coordination::Session)s keep alive are revoked (so ephemeral
    /// objects, locks and election entries go at once), watches, watchers and caches end, and
    /// every later call is [`Error::Closed`]. Closing twice is harmless.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn close(&self) {
        self.inner.lifecycle.close(&*self.inner.raw).await;
    }

    /// A store on the same backend with a life of its own (open), for the conformance cases
    /// that watch a store being closed.
    #[cfg(feature = "conformance")]
    pub(crate) fn reopened(&self) -> Self {
        let lifecycle = Lifecycle::new();
        Store {
            inner: Arc::new(Inner {
                backend: closable(&self.inner.raw, &lifecycle, &self.inner.head),
                lifecycle,
                ..self.share()
            }),
        }
    }

    /// Whether [`Store::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.lifecycle.is_closed()
    }

    /// What the store does when it is closed: for the runtime built on a store (sessions
    /// register their leases there, watches end when it resolves).
    pub fn on_close(&self) -> OnClose {
        OnClose(Arc::clone(&self.inner.lifecycle))
    }

    /// Checks that the store answers (cerana's `Ping`): one cheap round trip, within the
    /// backend's request timeout; [`Error::Unavailable`] otherwise.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn health(&self) -> Result<()> {
        self.inner.backend.current_revision().await.map(|_| ())
    }

    /// The store's current revision, as a resource version.
    pub async fn current_resource_version(&self) -> Result<ResourceVersion> {
        Ok(ResourceVersion::of(
            self.inner.backend.current_revision().await?,
        ))
    }

    /// Asks every open watch of this store that delivers bookmarks
    /// ([`WatchOptions::bookmarks`], [`Watcher`](crate::Watcher)s, caches) to send one soon: a
    /// resource version at least as new as the store's when this call began, after every
    /// change of the watch up to it. [`Error::Unsupported`](crate::Error::Unsupported) when
    /// the backend cannot promise that; its watches then send bookmarks only when it chooses.
    pub async fn request_bookmarks(&self) -> Result<()> {
        self.inner.backend.request_progress().await
    }

    /// Discards history up to `resource_version`: lists continued and watches started before it
    /// give [`Error::Gone`].
    pub async fn compact(&self, resource_version: ResourceVersion) -> Result<()> {
        self.inner
            .backend
            .compact(resource_version.revision())
            .await
    }

    /// The value a typed write of `object` at `key` stores: encoded without its resource
    /// version, sealed for the key ([`Codec::seal`]), within the value-size limit
    /// ([`Error::ValueTooLarge`]). For writes through [`Store::backend`] (raw transactions,
    /// fenced writes); [`Store::decode_value`] reads it back.
    pub fn encode_value<K: Object>(&self, key: &str, object: &K) -> Result<Bytes>
    where
        C: CodecFor<K>,
    {
        let mut object = object.clone();
        self.encode(key, &mut object)
    }

    /// The object a stored value holds, with the value's mod revision as its resource
    /// version: [`Error::KindMismatch`] for a value of another kind, a codec error for bytes
    /// that do not decode, each naming the key. For reads through [`Store::backend`].
    pub fn decode_value<K: Object>(&self, kv: &KeyValue) -> Result<K>
    where
        C: CodecFor<K>,
    {
        self.decode(kv)
    }

    /// Encodes `object` as stored: without a resource version, sealed for its key
    /// ([`Codec::seal`]), and within the value-size limit.
    pub(crate) fn encode<K: Object>(&self, key: &str, object: &mut K) -> Result<Bytes>
    where
        C: CodecFor<K>,
    {
        let encoded = self.encode_unsealed(key, object)?;
        self.seal(key, encoded)
    }

    /// Encodes `object` without a resource version, before [`Codec::seal`].
    pub(crate) fn encode_unsealed<K: Object>(&self, key: &str, object: &mut K) -> Result<Vec<u8>>
    where
        C: CodecFor<K>,
    {
        if let Some(stored) = object
            .metadata()
            .annotations
            .get(LOSSY_CONVERSION_ANNOTATION)
        {
            return Err(Error::LossyConversion {
                key: key.to_owned(),
                from: Box::new(TypeMeta::new(K::KIND, stored)),
                to: Box::new(K::type_meta()),
            });
        }
        let resource_version = object.metadata_mut().resource_version.take();
        let encoded = match self
            .inner
            .scheme
            .encode_for_storage(&self.inner.codec, key, object)
        {
            Ok(Some(converted)) => Ok(converted),
            Ok(None) => self
                .inner
                .codec
                .encode(object)
                .map_err(|e| Error::from_codec(key, e)),
            Err(err) => Err(err),
        };
        object.metadata_mut().resource_version = resource_version;
        encoded
    }

    /// Seals encoded bytes for `key`, within the value-size limit.
    pub(crate) fn seal(&self, key: &str, encoded: Vec<u8>) -> Result<Bytes> {
        let sealed = self
            .inner
            .codec
            .seal(key, encoded)
            .map_err(|e| Error::from_codec(key, e))?;
        if sealed.len() > self.inner.max_value_size {
            return Err(Error::ValueTooLarge {
                key: key.to_owned(),
                size: sealed.len(),
                limit: self.inner.max_value_size,
            });
        }
        Ok(Bytes::from(sealed))
    }

    /// The encoded bytes of a stored value ([`Codec::open`]).
    pub(crate) fn opened<'a>(&self, kv: &'a KeyValue) -> Result<std::borrow::Cow<'a, [u8]>> {
        self.inner
            .codec
            .open(&kv.key, &kv.value)
            .map_err(|e| Error::from_codec(&kv.key, e))
    }

    /// Checks that a stored value is of kind `K` ([`Object::is_kind`]) without decoding it.
    fn expect_kind<K: Object>(&self, kv: &KeyValue) -> Result<()> {
        self.expect_stored_kind(kv, &K::type_meta(), K::is_kind)
    }

    /// Checks that a stored value is of the kind `expected` without decoding it:
    /// [`Error::KindMismatch`] naming the key otherwise.
    fn expect_type_meta(&self, kv: &KeyValue, expected: &TypeMeta) -> Result<()> {
        self.expect_stored_kind(kv, expected, |_| false)
    }

    /// Checks that a stored value is `expected`, a version of it the scheme converts, or a kind
    /// `is_kind` accepts.
    fn expect_stored_kind(
        &self,
        kv: &KeyValue,
        expected: &TypeMeta,
        is_kind: fn(&TypeMeta) -> bool,
    ) -> Result<()> {
        let found = self
            .inner
            .codec
            .type_meta(&self.opened(kv)?)
            .map_err(|e| Error::from_codec(&kv.key, e))?;
        if is_kind(&found) || self.inner.scheme.accepts(expected, &found) {
            return Ok(());
        }
        Err(Scheme::<C>::unreadable(&kv.key, expected.clone(), found))
    }

    /// Decodes a stored value, setting its resource version to the value's mod revision. A
    /// value of another version of `K`'s kind is converted by the scheme.
    fn decode<K: Object>(&self, kv: &KeyValue) -> Result<K>
    where
        C: CodecFor<K>,
    {
        let opened = self.opened(kv)?;
        let mut object: K = match self.inner.codec.decode(&opened) {
            Ok(object) => object,
            Err(crate::codec::CodecError::KindMismatch { found, .. }) => self
                .inner
                .scheme
                .read_as(&self.inner.codec, &kv.key, &opened, *found)?,
            Err(err) => return Err(Error::from_codec(&kv.key, err)),
        };
        object.metadata_mut().resource_version = Some(kv.mod_revision.to_string());
        Ok(object)
    }
}

/// Parses the resource version a caller left in an object's metadata (the wire form): that
/// of a stored object, 1 to [`ResourceVersion::MAX`].
pub(crate) fn parse_resource_version(resource_version: &str) -> Result<u64> {
    match resource_version.parse::<ResourceVersion>() {
        Ok(rv) if rv > ResourceVersion::ZERO => Ok(rv.revision()),
        _ => Err(Error::InvalidArgument(format!(
            "{resource_version:?} is not the resource version of a stored object"
        ))),
    }
}

/// The revision a compare-and-swap on `resource_version` names: version 0 is no stored
/// object's ([`Error::InvalidArgument`]).
pub(crate) fn stored_revision(resource_version: ResourceVersion) -> Result<u64> {
    match resource_version.revision() {
        0 => Err(Error::InvalidArgument(
            "resource version 0 is no stored object's".to_owned(),
        )),
        revision => Ok(revision),
    }
}

/// The first revision after `resource_version`: where a watch that has seen it goes on.
pub(crate) fn revision_after(resource_version: ResourceVersion) -> Result<u64> {
    match resource_version < ResourceVersion::MAX {
        true => Ok(resource_version.revision() + 1),
        false => Err(Error::InvalidArgument(format!(
            "resource version {resource_version} has no successor"
        ))),
    }
}

/// Sets the resource version of a written object.
pub(crate) fn set_resource_version<K: Object>(object: &mut K, revision: u64) {
    object.metadata_mut().resource_version = Some(revision.to_string());
}

/// The backend as a store's users see it: closed with the store, the revisions of its answers
/// noted in `head`.
fn closable(
    backend: &Arc<dyn Backend>,
    lifecycle: &Arc<Lifecycle>,
    head: &Arc<head::Head>,
) -> Arc<dyn Backend> {
    Arc::new(lifecycle::Closable {
        backend: Arc::clone(backend),
        lifecycle: Arc::clone(lifecycle),
        head: Arc::clone(head),
    })
}
