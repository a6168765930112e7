//! [`AnyCodec`]: a serde codec chosen at run time, by name.

use kvstore_core::codec::{Codec, CodecError, CodecFor};
use kvstore_core::{Error, Object, Result, TypeMeta};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// One of the serde codecs, chosen at run time by name (`json`, `postcard`, `bincode` with
/// its feature) — what a store connected from a configuration uses. Protobuf kinds need
/// [`Protobuf`](crate::Protobuf) by type instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnyCodec {
    /// [`Json`](crate::Json), the default.
    #[default]
    Json,
    /// [`Postcard`](crate::Postcard).
    Postcard,
    /// [`Bincode`](crate::Bincode).
    #[cfg(feature = "bincode")]
    Bincode,
}

impl AnyCodec {
    /// The codec named `name`; [`Error::InvalidConfig`] naming the known ones otherwise.
    pub fn named(name: &str) -> Result<AnyCodec> {
        match name {
            "json" => Ok(AnyCodec::Json),
            "postcard" => Ok(AnyCodec::Postcard),
            #[cfg(feature = "bincode")]
            "bincode" => Ok(AnyCodec::Bincode),
            #[cfg(not(feature = "bincode"))]
            "bincode" => Err(Error::InvalidConfig {
                message: "the bincode codec needs the `bincode` feature".to_owned(),
            }),
            other => Err(Error::InvalidConfig {
                message: format!("unknown codec {other:?} (known: json, postcard, bincode)"),
            }),
        }
    }
}

impl Codec for AnyCodec {
    fn format(&self) -> &'static str {
        match self {
            AnyCodec::Json => crate::Json.format(),
            AnyCodec::Postcard => crate::Postcard.format(),
            #[cfg(feature = "bincode")]
            AnyCodec::Bincode => crate::Bincode.format(),
        }
    }

    fn type_meta(&self, bytes: &[u8]) -> Result<TypeMeta, CodecError> {
        match self {
            AnyCodec::Json => crate::Json.type_meta(bytes),
            AnyCodec::Postcard => crate::Postcard.type_meta(bytes),
            #[cfg(feature = "bincode")]
            AnyCodec::Bincode => crate::Bincode.type_meta(bytes),
        }
    }
}

impl<K: Object + Serialize + DeserializeOwned> CodecFor<K> for AnyCodec {
    fn encode(&self, object: &K) -> Result<Vec<u8>, CodecError> {
        match self {
            AnyCodec::Json => crate::Json.encode(object),
            AnyCodec::Postcard => crate::Postcard.encode(object),
            #[cfg(feature = "bincode")]
            AnyCodec::Bincode => crate::Bincode.encode(object),
        }
    }

    fn decode(&self, bytes: &[u8]) -> Result<K, CodecError> {
        match self {
            AnyCodec::Json => CodecFor::<K>::decode(&crate::Json, bytes),
            AnyCodec::Postcard => CodecFor::<K>::decode(&crate::Postcard, bytes),
            #[cfg(feature = "bincode")]
            AnyCodec::Bincode => CodecFor::<K>::decode(&crate::Bincode, bytes),
        }
    }
}
