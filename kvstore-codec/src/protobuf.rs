//! Protobuf through prost, for kinds that implement `prost::Message`.

use kvstore_core::codec::{Codec, CodecError, CodecFor};
use kvstore_core::{Object, TypeMeta};

use crate::envelope::PROTOBUF;

/// The Protobuf codec, for kinds deriving `prost::Message` (their metadata field is
/// `#[prost(message, required, tag = "1")] metadata: ObjectMeta`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Protobuf;

impl Codec for Protobuf {
    fn format(&self) -> &'static str {
        PROTOBUF.name
    }

    fn type_meta(&self, bytes: &[u8]) -> Result<TypeMeta, CodecError> {
        PROTOBUF.open(bytes).map(|(type_meta, _)| type_meta)
    }
}

impl<K: Object + prost::Message + Default> CodecFor<K> for Protobuf {
    fn encode(&self, object: &K) -> Result<Vec<u8>, CodecError> {
        PROTOBUF.encode::<K>(|out| {
            object.encode(out)?;
            Ok(())
        })
    }

    fn decode(&self, bytes: &[u8]) -> Result<K, CodecError> {
        PROTOBUF.decode(bytes, |body| Ok(K::decode(body)?))
    }
}
