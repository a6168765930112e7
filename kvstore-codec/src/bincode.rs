//! Compact binary through bincode 2.0.1 (serde). bincode is no longer maintained (and 3.0.0 is
//! an empty release that does not build), so [`Postcard`](crate::Postcard) is recommended.

use kvstore_core::codec::{Codec, CodecError, CodecFor};
use kvstore_core::{Object, TypeMeta};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::envelope::BINCODE;

/// The most a decode may allocate: far above etcd's value size limit (1.5 MiB by default), far
/// below what a corrupt length prefix could ask for.
const DECODE_LIMIT: usize = 16 * 1024 * 1024;

fn config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<DECODE_LIMIT>,
> {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// The bincode codec (feature `bincode`), for stores that already hold bincode values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bincode;

impl Codec for Bincode {
    fn format(&self) -> &'static str {
        BINCODE.name
    }

    fn type_meta(&self, bytes: &[u8]) -> Result<TypeMeta, CodecError> {
        BINCODE.open(bytes).map(|(type_meta, _)| type_meta)
    }
}

impl<K: Object + Serialize + DeserializeOwned> CodecFor<K> for Bincode {
    fn encode(&self, object: &K) -> Result<Vec<u8>, CodecError> {
        BINCODE.encode::<K>(|out| {
            let body = bincode::serde::encode_to_vec(object, config())?;
            out.extend_from_slice(&body);
            Ok(())
        })
    }

    fn decode(&self, bytes: &[u8]) -> Result<K, CodecError> {
        BINCODE.decode(bytes, |body| {
            let (object, read) = bincode::serde::decode_from_slice(body, config())?;
            if read == body.len() {
                Ok(object)
            } else {
                Err(format!("{} trailing bytes", body.len() - read).into())
            }
        })
    }
}
