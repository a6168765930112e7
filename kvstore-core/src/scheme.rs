//! [`Scheme`]: the registry of kinds, used to decode values whose kind is not known in advance.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;

use crate::codec::{CodecError, CodecFor};
use crate::meta::{ObjectMeta, TypeMeta};
use crate::object::Object;

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

trait AnyObject: Send + Sync {
    fn metadata(&self) -> &ObjectMeta;
    fn field(&self, name: &str) -> Option<String>;
    fn metadata_mut(&mut self) -> &mut ObjectMeta;
    fn as_any(&self) -> &dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<K: Object> AnyObject for K {
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

type DecodeFn<C> = fn(&C, &[u8]) -> Result<DynObject, CodecError>;

fn decode_as<C: CodecFor<K>, K: Object>(codec: &C, bytes: &[u8]) -> Result<DynObject, CodecError> {
    let object = codec.decode(bytes)?;
    Ok(DynObject {
        type_meta: K::type_meta(),
        object: Box::new(object),
    })
}

/// The kinds a store knows, for a codec `C`.
///
/// A prefix may hold objects of several kinds; the scheme reads the kind written in each value
/// and decodes it into the registered Rust type.
pub struct Scheme<C> {
    kinds: HashMap<TypeMeta, DecodeFn<C>>,
}

impl<C> Default for Scheme<C> {
    fn default() -> Self {
        Scheme {
            kinds: HashMap::new(),
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

    /// Registers kind `K`. Registering a kind twice is harmless.
    pub fn register<K: Object>(&mut self) -> &mut Self
    where
        C: CodecFor<K>,
    {
        self.kinds.insert(K::type_meta(), decode_as::<C, K>);
        self
    }

    /// Whether `type_meta` names a registered kind.
    pub fn recognizes(&self, type_meta: &TypeMeta) -> bool {
        self.kinds.contains_key(type_meta)
    }

    /// The registered kinds.
    pub fn kinds(&self) -> impl Iterator<Item = &TypeMeta> {
        self.kinds.keys()
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
            })?;
        decode(codec, bytes).map_err(|e| crate::Error::from_codec(key, e))
    }
}
