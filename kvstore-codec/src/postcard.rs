//! Compact binary through postcard (serde).

use kvstore_core::codec::{Codec, CodecError, CodecFor};
use kvstore_core::{Object, TypeMeta};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::envelope::POSTCARD;

/// The postcard codec: compact, fast, maintained; the recommended binary codec for serde
/// kinds. Like every non-self-describing format it needs kinds whose serde shape is fixed (no
/// `skip_serializing_if`, no untagged enums).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Postcard;

impl Codec for Postcard {
    fn format(&self) -> &'static str {
        POSTCARD.name
    }

    fn type_meta(&self, bytes: &[u8]) -> Result<TypeMeta, CodecError> {
        POSTCARD.open(bytes).map(|(type_meta, _)| type_meta)
    }
}

impl<K: Object + Serialize + DeserializeOwned> CodecFor<K> for Postcard {
    fn encode(&self, object: &K) -> Result<Vec<u8>, CodecError> {
        POSTCARD.encode::<K>(|out| {
            let body = postcard::to_extend(object, std::mem::take(out))?;
            *out = body;
            Ok(())
        })
    }

    fn decode(&self, bytes: &[u8]) -> Result<K, CodecError> {
        POSTCARD.decode(bytes, |body| {
            let (object, rest) = postcard::take_from_bytes(body)?;
            if rest.is_empty() {
                Ok(object)
            } else {
                Err(format!("{} trailing bytes", rest.len()).into())
            }
        })
    }
}
