//! The codec contract: how typed objects become bytes and back.
//!
//! Implementations live in `kvstore-codec`; the store only sees these traits. Stored bytes
//! are self-describing: they carry their format and [`TypeMeta`], so a codec can refuse a
//! value of another kind or another format with a clear [`CodecError`].

use std::borrow::Cow;

pub use crate::error::CodecError;
use crate::meta::TypeMeta;
use crate::object::Object;

/// A format that can tell the kind of stored bytes without decoding them.
pub trait Codec: Send + Sync + 'static {
    /// The format's short name, e.g. `json`.
    fn format(&self) -> &'static str;

    /// Reads the [`TypeMeta`] written in `bytes`.
    fn type_meta(&self, bytes: &[u8]) -> Result<TypeMeta, CodecError>;

    /// Turns encoded bytes into the bytes stored at `key`. The identity, unless the codec binds
    /// values to where they are stored (encryption at rest, with the key as authenticated
    /// data). The store calls it after [`CodecFor::encode`].
    fn seal(&self, key: &str, encoded: Vec<u8>) -> Result<Vec<u8>, CodecError> {
        let _ = key;
        Ok(encoded)
    }

    /// The inverse of [`Codec::seal`]: the encoded bytes of the value stored at `key`. The store
    /// calls it before [`Codec::type_meta`] and [`CodecFor::decode`].
    fn open<'a>(&self, key: &str, stored: &'a [u8]) -> Result<Cow<'a, [u8]>, CodecError> {
        let _ = key;
        Ok(Cow::Borrowed(stored))
    }
}

/// A codec able to encode and decode objects of kind `K` (both ways: the name says for which
/// kind, not which direction).
///
/// `encode` writes the kind's [`TypeMeta`] with the object; `decode` checks it and returns
/// [`CodecError::KindMismatch`] for a value of another kind.
pub trait CodecFor<K: Object>: Codec {
    /// Encodes `object`, with its `TypeMeta`.
    fn encode(&self, object: &K) -> Result<Vec<u8>, CodecError>;
    /// Decodes a value of kind `K`.
    fn decode(&self, bytes: &[u8]) -> Result<K, CodecError>;
}

/// Checks that `found` names kind `K`.
pub fn expect_kind<K: Object>(found: TypeMeta) -> Result<(), CodecError> {
    if K::is_kind(&found) {
        Ok(())
    } else {
        Err(CodecError::KindMismatch {
            expected: Box::new(K::type_meta()),
            found: Box::new(found),
        })
    }
}
