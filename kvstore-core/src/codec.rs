//! The codec contract: how typed objects become bytes and back.
//!
//! Implementations live in `kvstore-codec`; the store only sees these traits. Stored bytes
//! are self-describing: they carry their format and [`TypeMeta`], so a codec can refuse a
//! value of another kind or another format with a clear [`CodecError`].

use crate::error::BoxError;
use crate::meta::TypeMeta;
use crate::object::Object;

/// Why a value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The bytes were written in another format than the codec reads.
    #[error("value is in {found} format, this codec reads {expected}")]
    WrongFormat {
        /// The codec's format.
        expected: &'static str,
        /// The format found in the bytes.
        found: String,
    },
    /// The value is of another kind than the one asked for.
    #[error("stored object is a {found}, expected a {expected}")]
    KindMismatch {
        /// The kind asked for.
        expected: Box<TypeMeta>,
        /// The kind found.
        found: Box<TypeMeta>,
    },
    /// The bytes are not a valid value of the format.
    #[error("malformed {format} value: {source}")]
    Malformed {
        /// The codec's format.
        format: &'static str,
        /// The parser's error.
        #[source]
        source: BoxError,
    },
    /// The object could not be encoded.
    #[error("cannot encode as {format}: {source}")]
    Encode {
        /// The codec's format.
        format: &'static str,
        /// The serializer's error.
        #[source]
        source: BoxError,
    },
}

impl CodecError {
    /// A [`CodecError::Malformed`] for `format`.
    pub fn malformed(format: &'static str, source: impl Into<BoxError>) -> Self {
        CodecError::Malformed {
            format,
            source: source.into(),
        }
    }
}

/// A format that can tell the kind of stored bytes without decoding them.
pub trait Codec: Send + Sync + 'static {
    /// The format's short name, e.g. `json`.
    fn format(&self) -> &'static str;

    /// Reads the [`TypeMeta`] written in `bytes`.
    fn type_meta(&self, bytes: &[u8]) -> Result<TypeMeta, CodecError>;
}

/// A codec able to encode and decode objects of kind `K`.
///
/// `encode` writes the kind's [`TypeMeta`] with the object; `decode` checks it and returns
/// [`CodecError::KindMismatch`] for a value of another kind.
pub trait Encode<K: Object>: Codec {
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
