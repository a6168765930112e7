//! Every codec's decoder and header reader, on arbitrary stored bytes: errors, never panics or
//! unbounded allocations.
#![no_main]

use kvstore_codec::{AnyCodec, Bincode, Json, Postcard, Protobuf};
use kvstore_core::{Codec, CodecFor, Object, ObjectMeta};
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};

/// A kind every codec handles (Protobuf needs `prost::Message`).
#[derive(Clone, PartialEq, Serialize, Deserialize, prost::Message)]
struct User {
    #[prost(message, required, tag = "1")]
    metadata: ObjectMeta,
    #[prost(string, tag = "2")]
    email: String,
    #[prost(string, repeated, tag = "3")]
    groups: Vec<String>,
}

impl Object for User {
    const KIND: &'static str = "User";
    const API_VERSION: &'static str = "fuzz/v1";
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

fuzz_target!(|bytes: &[u8]| {
    let _ = CodecFor::<User>::decode(&Json, bytes);
    let _ = CodecFor::<User>::decode(&Protobuf, bytes);
    let _ = CodecFor::<User>::decode(&Postcard, bytes);
    let _ = CodecFor::<User>::decode(&Bincode, bytes);
    let _ = CodecFor::<User>::decode(&AnyCodec::default(), bytes);
    let _ = Json.type_meta(bytes);
    let _ = Protobuf.type_meta(bytes);
    let _ = Postcard.type_meta(bytes);
    let _ = Bincode.type_meta(bytes);
});
