//! JSON through serde_json: `{"apiVersion":"v1","kind":"User","metadata":{...},...}`.

use kvstore_core::codec::{expect_kind, Codec, CodecError, CodecFor};
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

impl<K: Object + Serialize + DeserializeOwned> CodecFor<K> for Json {
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
        match leading_type_meta(bytes) {
            Some((api_version, kind)) if kind == K::KIND && api_version == K::API_VERSION => {}
            Some((api_version, kind)) => {
                expect_kind::<K>(TypeMeta::new(kind, api_version))?;
            }
            None => expect_kind::<K>(self.type_meta(bytes)?)?,
        }
        serde_json::from_slice(bytes).map_err(|e| CodecError::malformed(NAME, e))
    }
}

/// The `(apiVersion, kind)` of a value as this codec writes it: `{"apiVersion":"…","kind":"…"`
/// at the very start, both strings free of escapes, followed by `,` or `}`. Lets `decode`
/// check the kind without parsing the document twice; anything else (a value written by hand,
/// keys in another order) returns `None` and is parsed in full.
fn leading_type_meta(bytes: &[u8]) -> Option<(&str, &str)> {
    let rest = bytes.strip_prefix(b"{\"apiVersion\":\"")?;
    let (api_version, rest) = plain_string(rest)?;
    let rest = rest.strip_prefix(b",\"kind\":\"")?;
    let (kind, rest) = plain_string(rest)?;
    matches!(rest.first(), Some(b',' | b'}')).then_some((api_version, kind))
}

/// The string up to the next `"`, if it holds no escape or control character.
fn plain_string(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let end = bytes.iter().position(|&b| b == b'"')?;
    let (text, rest) = bytes.split_at(end);
    if text.iter().any(|&b| b == b'\\' || b < 0x20) {
        return None;
    }
    Some((std::str::from_utf8(text).ok()?, &rest[1..]))
}

#[cfg(test)]
mod tests {
    use super::leading_type_meta;

    #[test]
    fn reads_the_leading_type_meta_of_values_it_wrote_only() {
        let written = br#"{"apiVersion":"example.com/v1","kind":"User","metadata":{}}"#;
        assert_eq!(leading_type_meta(written), Some(("example.com/v1", "User")));
        assert_eq!(
            leading_type_meta(br#"{"apiVersion":"v1","kind":"User"}"#),
            Some(("v1", "User"))
        );
        for other in [
            &br#"{"kind":"User","apiVersion":"v1"}"#[..],
            br#" {"apiVersion":"v1","kind":"User"}"#,
            br#"{"apiVersion":"v\u0031","kind":"User"}"#,
            br#"{"apiVersion":"v1","kind":"User"x"#,
            br#"{"apiVersion":"v1","kind":"Us"#,
            b"",
        ] {
            assert_eq!(leading_type_meta(other), None, "{other:?}");
        }
    }
}
