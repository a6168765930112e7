//! JSON through serde_json: `{"apiVersion":"v1","kind":"User","metadata":{...},...}`.

use kvstore_core::codec::{expect_kind, Codec, CodecError, Encode};
use kvstore_core::{Object, TypeMeta};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::envelope::{describe, sniff, Format};

const NAME: &str = "json";

/// The JSON codec: human readable, what `etcdctl get` shows. The default.
///
/// The object's fields sit beside `apiVersion` and `kind` at the top level, as in Kubernetes;
/// a kind must serialize as a struct or map, and must not itself use the field names `kind`
/// or `apiVersion` nor `#[serde(deny_unknown_fields)]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json;

#[derive(Serialize)]
struct Envelope<'a, K> {
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    kind: &'a str,
    #[serde(flatten)]
    object: &'a K,
}

#[derive(Deserialize)]
struct Header {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
}

impl Codec for Json {
    fn format(&self) -> &'static str {
        NAME
    }

    fn type_meta(&self, bytes: &[u8]) -> Result<TypeMeta, CodecError> {
        if sniff(bytes) != Format::Json {
            return Err(CodecError::WrongFormat {
                expected: NAME,
                found: describe(bytes),
            });
        }
        let header: Header =
            serde_json::from_slice(bytes).map_err(|e| CodecError::malformed(NAME, e))?;
        Ok(TypeMeta::new(header.kind, header.api_version))
    }
}

impl<K: Object + Serialize + DeserializeOwned> Encode<K> for Json {
    fn encode(&self, object: &K) -> Result<Vec<u8>, CodecError> {
        let envelope = Envelope {
            api_version: K::API_VERSION,
            kind: K::KIND,
            object,
        };
        serde_json::to_vec(&envelope).map_err(|e| CodecError::Encode {
            format: NAME,
            source: e.into(),
        })
    }

    fn decode(&self, bytes: &[u8]) -> Result<K, CodecError> {
        expect_kind::<K>(self.type_meta(bytes)?)?;
        serde_json::from_slice(bytes).map_err(|e| CodecError::malformed(NAME, e))
    }
}
