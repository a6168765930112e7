//! The self-describing header of binary values, and format detection.
//!
//! A binary value is `\0KV`, one format byte, then the kind and the API version (each a
//! big-endian `u16` length and UTF-8 bytes), then the format's body. JSON values are plain
//! JSON objects carrying `apiVersion` and `kind`, so a human (or `etcdctl`) can read and write
//! them; no JSON text starts with a NUL byte, so the two never mix up. A value encrypted at rest
//! starts with `kvse` (see [`Encrypted`](crate::Encrypted)) and names its key.

#![cfg_attr(
    not(any(feature = "protobuf", feature = "postcard", feature = "bincode")),
    allow(dead_code)
)]

use kvstore_core::codec::{expect_kind, CodecError};
use kvstore_core::{BoxError, Object, TypeMeta};

const MAGIC: &[u8; 3] = b"\0KV";
/// The first bytes of a value encrypted at rest.
pub(crate) const ENCRYPTED_MAGIC: &[u8; 4] = b"kvse";

/// The format a stored value is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Binary(u8),
    /// Encrypted at rest: the name of the key is in the header.
    Encrypted,
    Unknown,
}

/// Reads which format `bytes` are in.
pub(crate) fn sniff(bytes: &[u8]) -> Format {
    if bytes.len() > MAGIC.len() && bytes.starts_with(MAGIC) {
        Format::Binary(bytes[MAGIC.len()])
    } else if bytes.starts_with(ENCRYPTED_MAGIC) {
        Format::Encrypted
    } else if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        Format::Json
    } else {
        Format::Unknown
    }
}

/// A name for the format found in `bytes`, for error messages.
pub(crate) fn describe(bytes: &[u8]) -> String {
    match sniff(bytes) {
        Format::Json => "json".to_owned(),
        Format::Binary(id) => binary_format(id).map_or_else(
            || format!("unknown binary format {id}"),
            |f| f.name.to_owned(),
        ),
        Format::Encrypted => match encryption_key_name(bytes) {
            Some(name) => format!("encrypted at rest (key {name:?})"),
            None => "encrypted at rest (truncated header)".to_owned(),
        },
        Format::Unknown => "unrecognized (not a kvstore value)".to_owned(),
    }
}

/// The name of the key an encrypted value names in its header: `kvse`, the format version,
/// the name's length, the name.
pub(crate) fn encryption_key_name(bytes: &[u8]) -> Option<String> {
    let rest = bytes.strip_prefix(ENCRYPTED_MAGIC.as_slice())?;
    let [_version, len, rest @ ..] = rest else {
        return None;
    };
    let name = rest.get(..usize::from(*len))?;
    Some(String::from_utf8_lossy(name).into_owned())
}

/// A binary format: its id in the header and its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BinaryFormat {
    pub id: u8,
    pub name: &'static str,
}

pub(crate) const PROTOBUF: BinaryFormat = BinaryFormat {
    id: 1,
    name: "protobuf",
};
pub(crate) const POSTCARD: BinaryFormat = BinaryFormat {
    id: 2,
    name: "postcard",
};
pub(crate) const BINCODE: BinaryFormat = BinaryFormat {
    id: 3,
    name: "bincode",
};
const BINARY_FORMATS: [BinaryFormat; 3] = [PROTOBUF, POSTCARD, BINCODE];

/// The binary format whose header id is `id`.
pub(crate) fn binary_format(id: u8) -> Option<BinaryFormat> {
    BINARY_FORMATS.into_iter().find(|f| f.id == id)
}

fn push_text(out: &mut Vec<u8>, text: &str, format: BinaryFormat) -> Result<(), CodecError> {
    let len = u16::try_from(text.len()).map_err(|_| CodecError::Encode {
        format: format.name,
        source: "kind or API version longer than 65535 bytes".into(),
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

fn take_text<'a>(bytes: &mut &'a [u8], format: BinaryFormat) -> Result<&'a str, CodecError> {
    let truncated = || CodecError::malformed(format.name, "truncated header");
    let (len, rest) = bytes.split_first_chunk::<2>().ok_or_else(truncated)?;
    let len = usize::from(u16::from_be_bytes(*len));
    if rest.len() < len {
        return Err(truncated());
    }
    let (text, rest) = rest.split_at(len);
    *bytes = rest;
    std::str::from_utf8(text).map_err(|e| CodecError::malformed(format.name, e))
}

impl BinaryFormat {
    /// Writes the header for kind `K`, then the body.
    pub fn encode<K: Object>(
        self,
        body: impl FnOnce(&mut Vec<u8>) -> Result<(), BoxError>,
    ) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(MAGIC);
        out.push(self.id);
        push_text(&mut out, K::KIND, self)?;
        push_text(&mut out, K::API_VERSION, self)?;
        body(&mut out).map_err(|source| CodecError::Encode {
            format: self.name,
            source,
        })?;
        Ok(out)
    }

    /// Reads the header: the kind and the body.
    pub fn open(self, bytes: &[u8]) -> Result<(TypeMeta, &[u8]), CodecError> {
        if sniff(bytes) != Format::Binary(self.id) {
            return Err(CodecError::WrongFormat {
                expected: self.name,
                found: describe(bytes),
            });
        }
        let mut rest = &bytes[MAGIC.len() + 1..];
        let kind = take_text(&mut rest, self)?;
        let api_version = take_text(&mut rest, self)?;
        Ok((TypeMeta::new(kind, api_version), rest))
    }

    /// Reads the header, checks it names `K`, and decodes the body with `decode`.
    pub fn decode<K: Object>(
        self,
        bytes: &[u8],
        decode: impl FnOnce(&[u8]) -> Result<K, BoxError>,
    ) -> Result<K, CodecError> {
        let (found, body) = self.open(bytes)?;
        expect_kind::<K>(found)?;
        decode(body).map_err(|e| CodecError::malformed(self.name, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_formats() {
        assert_eq!(sniff(b"  {\"kind\":1}"), Format::Json);
        assert_eq!(sniff(b"\0KV\x02rest"), Format::Binary(2));
        assert_eq!(sniff(b"\0KV"), Format::Unknown);
        assert_eq!(sniff(b"hello"), Format::Unknown);
        assert_eq!(sniff(b""), Format::Unknown);
        assert_eq!(describe(b"\0KV\x09"), "unknown binary format 9");
        assert_eq!(sniff(b"kvse\x01\x02k1"), Format::Encrypted);
        assert_eq!(
            describe(b"kvse\x01\x02k1rest"),
            "encrypted at rest (key \"k1\")"
        );
        assert_eq!(
            describe(b"kvse\x01\x09k1"),
            "encrypted at rest (truncated header)"
        );
    }

    #[test]
    fn truncated_headers_are_errors() {
        for bytes in [
            &b"\0KV\x02"[..],
            b"\0KV\x02\x00",
            b"\0KV\x02\x00\x05ab",
            b"\0KV\x02\x00\x01a\x00",
        ] {
            let err = POSTCARD.open(bytes).unwrap_err();
            assert!(
                matches!(
                    err,
                    CodecError::Malformed { .. } | CodecError::WrongFormat { .. }
                ),
                "{err}"
            );
        }
    }
}
