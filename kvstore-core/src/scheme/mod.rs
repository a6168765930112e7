//! [`Scheme`]: the registry of kinds, used to decode values whose kind is not known in advance,
//! and of the versions of a kind with the conversions between them.

mod conversion;
pub(crate) mod error;
mod versions;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;

use crate::codec::{CodecError, CodecFor};
use crate::error::Error;
use crate::meta::{ObjectMeta, TypeMeta};
use crate::object::Object;
use conversion::{Failure, KindVersions};
pub use error::SchemeError;
pub use versions::Versions;

/// The annotation a read sets on an object converted to a version that cannot represent all of
/// it (a field only a newer version has); its value is the stored version. A write of an
/// object carrying it is refused with [`Error::LossyConversion`], so an older program cannot
/// silently drop what it cannot see. Removing the annotation accepts the loss.
pub const LOSSY_CONVERSION_ANNOTATION: &str = "kvstore.io/lossy-conversion-from";

/// An object of any registered kind, as decoded by a [`Scheme`].
pub struct DynObject {
    type_meta: TypeMeta,
    object: Box<dyn AnyObject>,
}

impl DynObject {
    /// The object's kind.
    pub fn type_meta(&self) -> &TypeMeta {
        &self.type_meta
    }
    /// The value of the kind's selectable field `name` (see [`Object::field`]).
    pub fn field(&self, name: &str) -> Option<String> {
        self.object.field(name)
    }
    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        self.object.metadata()
    }
    pub(crate) fn metadata_mut(&mut self) -> &mut ObjectMeta {
        self.object.metadata_mut()
    }
    /// Whether the object is of kind `K`.
    pub fn is<K: Object>(&self) -> bool {
        self.object.as_any().is::<K>()
    }
    /// A reference to the object if it is of kind `K`.
    pub fn downcast_ref<K: Object>(&self) -> Option<&K> {
        self.object.as_any().downcast_ref()
    }
    /// The object as kind `K`, or `self` back when it is another kind.
    pub fn downcast<K: Object>(self) -> Result<K, Self> {
        if self.is::<K>() {
            let any: Box<dyn Any> = self.object.into_any();
            Ok(*any.downcast::<K>().expect("checked by is::<K>()"))
        } else {
            Err(self)
        }
    }
}

impl fmt::Debug for DynObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynObject")
            .field("type_meta", &self.type_meta)
            .field("metadata", self.metadata())
            .finish()
    }
}

pub(crate) trait AnyObject: Send + Sync {
    fn clone_boxed(&self) -> Box<dyn AnyObject>;
    fn metadata(&self) -> &ObjectMeta;
    fn field(&self, name: &str) -> Option<String>;
    fn metadata_mut(&mut self) -> &mut ObjectMeta;
    fn as_any(&self) -> &dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<K: Object> AnyObject for K {
    fn clone_boxed(&self) -> Box<dyn AnyObject> {
        Box::new(self.clone())
    }
    fn metadata(&self) -> &ObjectMeta {
        Object::metadata(self)
    }
    fn field(&self, name: &str) -> Option<String> {
        Object::field(self, name)
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        Object::metadata_mut(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// The error of a conversion of the object at `key` from `from` to `to`.
fn conversion_error(key: &str, from: &TypeMeta, to: &TypeMeta, failure: Failure) -> Error {
    let (key, from, to) = (key.to_owned(), Box::new(from.clone()), Box::new(to.clone()));
    match failure {
        Failure::Failed(source) => Error::Conversion {
            key,
            from,
            to,
            source,
        },
        Failure::Lossy => Error::LossyConversion { key, from, to },
    }
}

pub(crate) type DecodeFn<C> = fn(&C, &[u8]) -> Result<DynObject, CodecError>;

pub(crate) fn decode_as<C: CodecFor<K>, K: Object>(
    codec: &C,
    bytes: &[u8],
) -> Result<DynObject, CodecError> {
    let object = codec.decode(bytes)?;
    Ok(DynObject {
        type_meta: K::type_meta(),
        object: Box::new(object),
    })
}

/// A registered kind and version.
struct Registered<C> {
    decode: DecodeFn<C>,
    type_id: TypeId,
    type_name: &'static str,
}

/// The kinds a store knows, for a codec `C`, and the versions of each.
///
/// A prefix may hold objects of several kinds; the scheme reads the kind written in each value
/// and decodes it into the registered Rust type. A kind may have several versions, one Rust
/// type each ([`Scheme::versions`]): reads of any version are converted to the version asked
/// for, writes are stored in the kind's storage version.
pub struct Scheme<C> {
    kinds: HashMap<TypeMeta, Registered<C>>,
    versioned: Vec<KindVersions<C>>,
    /// Where each versioned type is: (index in `versioned`, index of its version).
    by_type: HashMap<TypeId, (usize, usize)>,
}

impl<C> Default for Scheme<C> {
    fn default() -> Self {
        Scheme {
            kinds: HashMap::new(),
            versioned: Vec::new(),
            by_type: HashMap::new(),
        }
    }
}

impl<C> fmt::Debug for Scheme<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.kinds.keys()).finish()
    }
}

impl<C: crate::codec::Codec> Scheme<C> {
    /// An empty scheme.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers kind `K`, a kind with one version. Registering a type twice is harmless;
    /// [`SchemeError::DuplicateVersion`] when another type claims its kind and version,
    /// [`SchemeError::NoConversion`] when its kind has versions registered with
    /// [`Scheme::versions`] and `K` is not among them.
    pub fn register<K: Object>(&mut self) -> Result<&mut Self, SchemeError>
    where
        C: CodecFor<K>,
    {
        let type_meta = K::type_meta();
        if let Some(kind) = self.versioned_kind(&type_meta) {
            if !self.by_type.contains_key(&TypeId::of::<K>()) {
                return Err(SchemeError::NoConversion {
                    version: type_meta,
                    hub: kind.hub().type_meta.clone(),
                });
            }
        }
        self.claim(type_meta, TypeId::of::<K>(), std::any::type_name::<K>())?;
        self.kinds.insert(
            K::type_meta(),
            Registered {
                decode: decode_as::<C, K>,
                type_id: TypeId::of::<K>(),
                type_name: std::any::type_name::<K>(),
            },
        );
        Ok(self)
    }

    /// Checks that no other type claims `type_meta`.
    fn claim(
        &self,
        type_meta: TypeMeta,
        type_id: TypeId,
        type_name: &'static str,
    ) -> Result<(), SchemeError> {
        match self.kinds.get(&type_meta) {
            Some(first) if first.type_id != type_id => Err(SchemeError::DuplicateVersion {
                type_meta,
                first: first.type_name,
                second: type_name,
            }),
            _ => Ok(()),
        }
    }

    /// Adds the versions of a kind (from [`Versions::register`]).
    fn add_versions(&mut self, kind: KindVersions<C>) -> Result<(), SchemeError> {
        let hub = kind.hub().type_meta.clone();
        if self.versioned_kind(&hub).is_some() {
            return Err(SchemeError::AlreadyRegistered { kind: hub });
        }
        for version in &kind.versions {
            self.claim(
                version.type_meta.clone(),
                version.type_id,
                version.type_name,
            )?;
        }
        if let Some(alone) = self.kinds.keys().find(|registered| {
            registered.same_kind(&hub) && kind.index_of(&registered.api_version).is_none()
        }) {
            return Err(SchemeError::NoConversion {
                version: alone.clone(),
                hub,
            });
        }
        let index = self.versioned.len();
        for (position, version) in kind.versions.iter().enumerate() {
            self.by_type.insert(version.type_id, (index, position));
            self.kinds.insert(
                version.type_meta.clone(),
                Registered {
                    decode: version.decode_dynamic,
                    type_id: version.type_id,
                    type_name: version.type_name,
                },
            );
        }
        self.versioned.push(kind);
        Ok(())
    }

    /// Whether `type_meta` names a registered kind.
    pub fn recognizes(&self, type_meta: &TypeMeta) -> bool {
        self.kinds.contains_key(type_meta)
    }

    /// The registered kinds.
    pub fn kinds(&self) -> impl Iterator<Item = &TypeMeta> {
        self.kinds.keys()
    }

    /// The storage version of `type_meta`'s kind when the kind has several versions
    /// ([`Scheme::versions`]); `None` for a kind with one.
    pub fn storage_version(&self, type_meta: &TypeMeta) -> Option<&TypeMeta> {
        let kind = self.versioned_kind(type_meta)?;
        Some(&kind.versions[kind.storage].type_meta)
    }

    /// The registered versions of `type_meta`'s kind, in the order they were registered (the
    /// hub first); empty for a kind registered with one version or not at all.
    pub fn versions_of(&self, type_meta: &TypeMeta) -> Vec<TypeMeta> {
        self.versioned_kind(type_meta)
            .map(|kind| kind.versions.iter().map(|v| v.type_meta.clone()).collect())
            .unwrap_or_default()
    }

    fn versioned_kind(&self, type_meta: &TypeMeta) -> Option<&KindVersions<C>> {
        self.versioned
            .iter()
            .find(|kind| kind.hub().type_meta.same_kind(type_meta))
    }

    /// Whether a value of kind `found` may be read and replaced as a `expected`: the same
    /// kind and version, or two registered versions of one kind.
    pub(crate) fn accepts(&self, expected: &TypeMeta, found: &TypeMeta) -> bool {
        expected == found
            || self.versioned_kind(expected).is_some_and(|kind| {
                kind.index_of(&expected.api_version).is_some()
                    && kind.index_of(&found.api_version).is_some()
                    && expected.same_kind(found)
            })
    }

    /// The error for a value of kind `found` read as `expected` that the scheme cannot convert.
    pub(crate) fn unreadable(key: &str, expected: TypeMeta, found: TypeMeta) -> Error {
        let (key, expected, found) = (key.to_owned(), Box::new(expected), Box::new(found));
        if expected.same_kind(&found) {
            Error::UnknownVersion {
                key,
                expected,
                found,
            }
        } else {
            Error::KindMismatch {
                key,
                expected,
                found,
            }
        }
    }

    /// Reads `bytes` (stored at `key`, of kind `found`, opened) as `K`, converting from the
    /// stored version; a loss sets [`LOSSY_CONVERSION_ANNOTATION`].
    pub(crate) fn read_as<K: Object>(
        &self,
        codec: &C,
        key: &str,
        bytes: &[u8],
        found: TypeMeta,
    ) -> crate::Result<K> {
        let Some(&(index, to)) = self.by_type.get(&TypeId::of::<K>()) else {
            return Err(Self::unreadable(key, K::type_meta(), found));
        };
        let kind = &self.versioned[index];
        let Some(from) = kind
            .index_of(&found.api_version)
            .filter(|_| found.same_kind(&K::type_meta()))
        else {
            return Err(Self::unreadable(key, K::type_meta(), found));
        };
        let stored =
            (kind.versions[from].decode)(codec, bytes).map_err(|e| Error::from_codec(key, e))?;
        let (mut converted, lossy) =
            kind.convert(stored, from, to)
                .map_err(|source| Error::Conversion {
                    key: key.to_owned(),
                    from: Box::new(found.clone()),
                    to: Box::new(K::type_meta()),
                    source,
                })?;
        if lossy {
            converted
                .metadata_mut()
                .annotations
                .insert(LOSSY_CONVERSION_ANNOTATION.to_owned(), found.api_version);
        }
        converted
            .into_any()
            .downcast::<K>()
            .map(|object| *object)
            .map_err(|_| Self::unreadable(key, K::type_meta(), K::type_meta()))
    }

    /// The bytes `object` (to be written at `key`) is stored as when its kind's storage version
    /// is another: converted, refusing a loss ([`Error::LossyConversion`]). `None` when it is
    /// stored as it is.
    pub(crate) fn encode_for_storage<K: Object>(
        &self,
        codec: &C,
        key: &str,
        object: &K,
    ) -> crate::Result<Option<Vec<u8>>> {
        if self.versioned.is_empty() {
            return Ok(None);
        }
        let Some(&(index, from)) = self.by_type.get(&TypeId::of::<K>()) else {
            return match self.storage_version(&K::type_meta()) {
                Some(storage) => Err(Self::unreadable(key, storage.clone(), K::type_meta())),
                None => Ok(None),
            };
        };
        let kind = &self.versioned[index];
        if from == kind.storage {
            return Ok(None);
        }
        let storage = &kind.versions[kind.storage];
        let converted = kind
            .to_storage(Box::new(object.clone()), from)
            .map_err(|failure| {
                conversion_error(key, &K::type_meta(), &storage.type_meta, failure)
            })?;
        (storage.encode)(codec, &*converted)
            .map(Some)
            .map_err(|e| Error::from_codec(key, e))
    }

    /// The bytes a value of kind `found` (stored at `key`, opened) is stored as in its kind's
    /// storage version, converted (refusing a loss); `None` when it is in the storage version
    /// or its kind has one version. For migrations.
    pub(crate) fn reencode_for_storage(
        &self,
        codec: &C,
        key: &str,
        bytes: &[u8],
        found: &TypeMeta,
    ) -> crate::Result<Option<Vec<u8>>> {
        let Some(kind) = self.versioned_kind(found) else {
            return Ok(None);
        };
        let storage = &kind.versions[kind.storage];
        if &storage.type_meta == found {
            return Ok(None);
        }
        let Some(from) = kind.index_of(&found.api_version) else {
            return Err(Self::unreadable(
                key,
                storage.type_meta.clone(),
                found.clone(),
            ));
        };
        let object =
            (kind.versions[from].decode)(codec, bytes).map_err(|e| Error::from_codec(key, e))?;
        let converted = kind
            .to_storage(object, from)
            .map_err(|failure| conversion_error(key, found, &storage.type_meta, failure))?;
        (storage.encode)(codec, &*converted)
            .map(Some)
            .map_err(|e| Error::from_codec(key, e))
    }

    /// Decodes `bytes` (stored at `key`) into whichever registered kind they hold.
    pub fn decode(&self, codec: &C, key: &str, bytes: &[u8]) -> crate::Result<DynObject> {
        let bytes = codec
            .open(key, bytes)
            .map_err(|e| crate::Error::from_codec(key, e))?;
        let bytes = &*bytes;
        let found = codec
            .type_meta(bytes)
            .map_err(|e| crate::Error::from_codec(key, e))?;
        let decode = self
            .kinds
            .get(&found)
            .ok_or_else(|| crate::Error::UnknownKind {
                key: key.to_owned(),
                found: Box::new(found),
            })?
            .decode;
        decode(codec, bytes).map_err(|e| crate::Error::from_codec(key, e))
    }
}

#[cfg(test)]
mod tests;
